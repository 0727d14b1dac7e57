-- Calendars, continued: Japan's national holidays kept up to date from
-- the Cabinet Office's file, and time counted in business hours (what
-- time-to-acknowledge and time-to-restore targets are measured in).

-- The Cabinet Office's file (incidentctl holidays import): the years a
-- file covers are replaced by what it says, so a holiday that moved (as
-- in 2020 and 2021) moves here too; other years are left as they are.
