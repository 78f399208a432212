-- The time zone each guardian reads times in (an IANA name such as
-- America/Los_Angeles): the portal shows every time in it, "this day" means
-- their day, and notices are written in it. NULL until chosen (the portal
-- adopts the browser's zone at the next sign-in).
ALTER TABLE guardians ADD COLUMN time_zone TEXT;
