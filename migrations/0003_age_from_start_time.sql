DROP INDEX `recordings_tier_created_idx`;--> statement-breakpoint
CREATE INDEX `recordings_status_start_idx` ON `recordings` (`status`,`start_time`,`id`);--> statement-breakpoint
CREATE INDEX `recordings_tier_start_idx` ON `recordings` (`storage_tier`,`start_time`);