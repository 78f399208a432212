-- Which browser or app each guardian session is ("Chrome on Android"), so the
-- account page can name them. Only this label, from a fixed vocabulary, is
-- kept: never the User-Agent itself.
ALTER TABLE sessions ADD COLUMN label TEXT;
