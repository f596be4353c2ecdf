-- How far a shard's journal is fanned out, for resume tokens (issue 16), and its trimming by age.
-- KEYS[1] fanned marker, KEYS[2] event journal. ARGV[1] retention in ms (0: no trimming).
-- Trims the journal to about ARGV[1] ms (MINID ~), then returns {fanned or '', newest journal id
-- or '', Redis time in ms}: atomically, so "everything journaled is fanned" and the time agree
-- (a later entry gets an id above that time).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = now - tonumber(ARGV[1])
if tonumber(ARGV[1]) > 0 and keep > 0 then
  redis.call('XTRIM', KEYS[2], 'MINID', '~', keep .. '-0')
end
local fanned = redis.call('GET', KEYS[1])
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local tail = ''
if #last > 0 then
  tail = last[1][1]
end
return {fanned or '', tail, tostring(now)}
