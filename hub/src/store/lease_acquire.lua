-- Takes a free shard lease (DESIGN.md "Sharding, failover, liveness").
-- KEYS[1] lease, KEYS[2] epoch; ARGV[1] hub id, ARGV[2] lease length in ms.
-- Returns the new epoch (the token is `<hub>:<epoch>`), or nil when the lease is held.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local e = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. e, 'PX', ARGV[2])
return e
