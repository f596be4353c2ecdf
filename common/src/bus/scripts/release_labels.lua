-- Gives back the acknowledgement labels ARGV[2..] in hash KEYS[1] that ARGV[1] still holds.
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
