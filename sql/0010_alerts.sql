-- 0010_alerts.sql — what trustworthy alerts need from the store.
--
-- alerts.strength: a number comparable between alerts of one type (the surge multiple in
-- hundredths, an odds move in micro-dollars, a book change in hundredths of a percent, a
-- premium in micro-dollars). A state signal inside ALERT_COOLDOWN_MIN fires anyway when it is
-- stronger than every alert holding the cooldown (lib/whale.c). NULL for alerts stored before
-- it was recorded: they count as strong.
ALTER TABLE alerts ADD COLUMN strength INTEGER;
