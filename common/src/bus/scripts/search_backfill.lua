-- Indexes twins a shard held before its search index existed (written by a hub without the
-- index), fenced by the shard lease like a commit (search_index.lua is prepended).
-- KEYS[1] lease. ARGV[1] lease token this hub holds, ARGV[2] '1' on the last chunk (the shard's
-- index is then marked built: `<prefix>built`), then the index section from ARGV[3].
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the shard lease is not held by this hub')
end
apply_index(3)
if ARGV[2] == '1' then
  redis.call('SET', ARGV[3] .. 'built', '1')
end
return 1
