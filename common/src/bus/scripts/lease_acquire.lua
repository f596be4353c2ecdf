-- Takes shard lease KEYS[1] if nobody holds it, with a new epoch from counter KEYS[2].
-- ARGV[1] hub id, ARGV[2] lease time in ms. Returns the epoch, or false when the lease is held.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local e = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. e, 'PX', ARGV[2])
return e
