CREATE TABLE `redaction_originals` (
	`object_key` text PRIMARY KEY NOT NULL,
	`recording_id` text NOT NULL,
	`size` integer NOT NULL,
	`ciphertext_size` integer NOT NULL,
	`content_type` text NOT NULL,
	`redaction` integer NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `redaction_originals_recording_idx` ON `redaction_originals` (`recording_id`,`created_at`);