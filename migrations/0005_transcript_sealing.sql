CREATE TABLE `transcript_terms` (
	`token` text NOT NULL,
	`recording_id` text NOT NULL,
	PRIMARY KEY(`token`, `recording_id`),
	FOREIGN KEY (`recording_id`) REFERENCES `transcripts`(`recording_id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `transcript_terms_recording_idx` ON `transcript_terms` (`recording_id`);--> statement-breakpoint
ALTER TABLE `transcripts` ADD `sealed` blob;--> statement-breakpoint
ALTER TABLE `transcripts` ADD `source` text DEFAULT 'service' NOT NULL;--> statement-breakpoint
ALTER TABLE `transcripts` ADD `engine` text;--> statement-breakpoint
ALTER TABLE `transcripts` ADD `audio_object_key` text;