CREATE TABLE `auth_denials` (
	`source` text NOT NULL,
	`window_start` text NOT NULL,
	`reason` text NOT NULL,
	`count` integer NOT NULL,
	`first_at` text NOT NULL,
	`last_at` text NOT NULL,
	`first_path` text NOT NULL,
	`claimed_at` text,
	PRIMARY KEY(`source`, `window_start`, `reason`)
);
--> statement-breakpoint
CREATE INDEX `auth_denials_window_idx` ON `auth_denials` (`window_start`);