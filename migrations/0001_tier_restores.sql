CREATE TABLE `tier_restores` (
	`recording_id` text PRIMARY KEY NOT NULL,
	`requested_at` text NOT NULL,
	`requested_by` text NOT NULL,
	FOREIGN KEY (`recording_id`) REFERENCES `recordings`(`id`) ON UPDATE no action ON DELETE cascade
);
