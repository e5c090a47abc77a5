CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`actor_role` text,
	`action` text NOT NULL,
	`recording_id` text,
	`subject_user_id` text,
	`outcome` text NOT NULL,
	`details` text,
	`request_id` text,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_seq_idx` ON `audit_events` (`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_recording_idx` ON `audit_events` (`recording_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_actor_idx` ON `audit_events` (`actor`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_subject_idx` ON `audit_events` (`subject_user_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_action_idx` ON `audit_events` (`action`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_at_idx` ON `audit_events` (`at`);--> statement-breakpoint
CREATE TABLE `consents` (
	`user_id` text PRIMARY KEY NOT NULL,
	`recording` integer DEFAULT true NOT NULL,
	`transcription` integer DEFAULT true NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `job_cursors` (
	`job` text PRIMARY KEY NOT NULL,
	`cursor` text,
	`run_started_at` text,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `legal_holds` (
	`id` text PRIMARY KEY NOT NULL,
	`recording_id` text NOT NULL,
	`reason` text,
	`placed_by` text NOT NULL,
	`placed_at` text NOT NULL,
	`released_by` text,
	`released_at` text
);
--> statement-breakpoint
CREATE INDEX `legal_holds_recording_idx` ON `legal_holds` (`recording_id`,`placed_at`);--> statement-breakpoint
CREATE TABLE `open_uploads` (
	`upload_id` text PRIMARY KEY NOT NULL,
	`object_key` text NOT NULL,
	`recording_id` text,
	`started_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `open_uploads_started_idx` ON `open_uploads` (`started_at`);--> statement-breakpoint
CREATE TABLE `recording_permissions` (
	`recording_id` text NOT NULL,
	`grantee_user_id` text NOT NULL,
	`permission` text DEFAULT 'read' NOT NULL,
	`granted_by` text NOT NULL,
	`granted_at` text NOT NULL,
	PRIMARY KEY(`recording_id`, `grantee_user_id`),
	FOREIGN KEY (`recording_id`) REFERENCES `recordings`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `recording_permissions_grantee_idx` ON `recording_permissions` (`grantee_user_id`);--> statement-breakpoint
CREATE TABLE `recordings` (
	`id` text PRIMARY KEY NOT NULL,
	`call_id` text NOT NULL,
	`user_id` text NOT NULL,
	`caller_phone` text,
	`receiver_phone` text,
	`start_time` text NOT NULL,
	`end_time` text,
	`duration_ms` integer,
	`format` text NOT NULL,
	`content_type` text NOT NULL,
	`size` integer DEFAULT 0 NOT NULL,
	`status` text NOT NULL,
	`failure_reason` text,
	`storage_tier` text DEFAULT 'hot' NOT NULL,
	`pending_tier` text,
	`legal_hold` integer DEFAULT false NOT NULL,
	`object_key` text,
	`ciphertext_size` integer,
	`wrapped_data_key` blob,
	`key_version` integer,
	`pauses` text,
	`gaps` text,
	`redactions` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`deleted_at` text
);
--> statement-breakpoint
CREATE INDEX `recordings_user_created_idx` ON `recordings` (`user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `recordings_created_idx` ON `recordings` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `recordings_call_idx` ON `recordings` (`call_id`);--> statement-breakpoint
CREATE INDEX `recordings_status_idx` ON `recordings` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `recordings_caller_idx` ON `recordings` (`caller_phone`);--> statement-breakpoint
CREATE INDEX `recordings_receiver_idx` ON `recordings` (`receiver_phone`);--> statement-breakpoint
CREATE INDEX `recordings_tier_created_idx` ON `recordings` (`storage_tier`,`created_at`);--> statement-breakpoint
CREATE INDEX `recordings_key_version_idx` ON `recordings` (`user_id`,`key_version`);--> statement-breakpoint
CREATE TABLE `renditions` (
	`recording_id` text NOT NULL,
	`quality` text NOT NULL,
	`object_key` text NOT NULL,
	`format` text NOT NULL,
	`content_type` text NOT NULL,
	`size` integer NOT NULL,
	`ciphertext_size` integer NOT NULL,
	`duration_ms` integer,
	`created_at` text NOT NULL,
	PRIMARY KEY(`recording_id`, `quality`),
	FOREIGN KEY (`recording_id`) REFERENCES `recordings`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `transcripts` (
	`recording_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`language` text NOT NULL,
	`text` text NOT NULL,
	`segments` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`recording_id`) REFERENCES `recordings`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `transcripts_created_idx` ON `transcripts` (`created_at`);--> statement-breakpoint
CREATE INDEX `transcripts_user_idx` ON `transcripts` (`user_id`);--> statement-breakpoint
CREATE TABLE `user_keys` (
	`user_id` text NOT NULL,
	`version` integer NOT NULL,
	`wrapped_secret` blob,
	`created_at` text NOT NULL,
	`retired_at` text,
	`destroyed_at` text,
	PRIMARY KEY(`user_id`, `version`)
);
--> statement-breakpoint
CREATE INDEX `user_keys_created_idx` ON `user_keys` (`created_at`);