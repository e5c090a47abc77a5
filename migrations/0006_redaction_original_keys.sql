ALTER TABLE `redaction_originals` ADD `wrapped_data_key` blob;--> statement-breakpoint
ALTER TABLE `redaction_originals` ADD `key_version` integer;