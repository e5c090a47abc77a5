DROP INDEX `audit_events_seq_idx`;--> statement-breakpoint
DROP INDEX `audit_events_recording_idx`;--> statement-breakpoint
DROP INDEX `audit_events_actor_idx`;--> statement-breakpoint
DROP INDEX `audit_events_subject_idx`;--> statement-breakpoint
DROP INDEX `audit_events_action_idx`;--> statement-breakpoint
DROP INDEX `audit_events_at_idx`;--> statement-breakpoint
ALTER TABLE `audit_events` ADD `shard` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_shard_seq_idx` ON `audit_events` (`shard`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_recording_idx` ON `audit_events` (`recording_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_events_actor_idx` ON `audit_events` (`actor`,`at`);--> statement-breakpoint
CREATE INDEX `audit_events_subject_idx` ON `audit_events` (`subject_user_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_events_action_idx` ON `audit_events` (`action`,`at`);--> statement-breakpoint
CREATE INDEX `audit_events_at_idx` ON `audit_events` (`at`,`id`);