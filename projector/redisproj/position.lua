-- Moves the projection's position forward once every slot of a batch is
-- applied.
--
-- KEYS[1]  <prefix>{btn}:pos
-- ARGV[1]  first sequence of the batch
-- ARGV[2]  last sequence of the batch
-- ARGV[3]  the channel the new position is published on
--
-- If the position does not exist (Redis lost the projection) and the batch
-- does not start at 1, nothing is written and the reply is an error
-- starting with FLUSHED. The position never moves back. When it moves,
-- the new position is PUBLISHed on ARGV[3], in the same step, so that a
-- reader waiting for a sequence (Reader.WaitApplied) hears of it without
-- polling.
local pos = redis.call('GET', KEYS[1])
if not pos and tonumber(ARGV[1]) > 1 then
  return redis.error_reply('FLUSHED the projection has no position but the batch starts at ' .. ARGV[1])
end
if not pos or tonumber(pos) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('PUBLISH', ARGV[3], ARGV[2])
end
return 'OK'
