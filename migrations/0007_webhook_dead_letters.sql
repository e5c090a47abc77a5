CREATE TABLE `webhook_dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`event` text NOT NULL,
	`data` text NOT NULL,
	`created_at` text NOT NULL,
	`failed_at` text NOT NULL,
	`attempts` integer NOT NULL,
	`last_error` text NOT NULL,
	`replayed_at` text,
	`replayed_by` text
);
--> statement-breakpoint
CREATE INDEX `webhook_dead_letters_failed_idx` ON `webhook_dead_letters` (`failed_at`,`id`);