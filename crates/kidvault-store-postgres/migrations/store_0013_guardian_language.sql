-- The language each guardian reads kidvault in ('en', 'es'): notices and
-- e-mails are written in it. NULL until chosen or adopted from the browser.
ALTER TABLE guardians ADD COLUMN language TEXT;
