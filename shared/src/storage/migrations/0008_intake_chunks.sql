-- Chunked intake (issue 4, throughput): the duplicate-candidate refresh of a chunk looks up each
-- touched person's namesakes only in the blocks where a 一人多号 pair can be (DOMAIN §6). One
-- mistyped digit or one swap of neighbouring digits in a 17-digit ID body leaves either the
-- 6-digit address code or the 3-digit sequence number unchanged, so namesakes sharing one of
-- them are all the rule `similar_id` has to check; `same_details` uses persons_by_name_key.
CREATE INDEX persons_by_name_and_id_county ON persons (name_key, substr(id_number, 1, 6));
CREATE INDEX persons_by_name_and_id_sequence ON persons (name_key, substr(id_number, 15, 3));
