-- Applies one slot's share of a batch: every key it touches shares the
-- hash tag of KEYS[1], from which they are derived, so it works on Redis
-- Cluster. The Go side has read the slot, folded the batch and prepared
-- the commands; this script makes them atomic with the slot's checkpoint.
--
-- KEYS[1]  a hash holding the slot's checkpoint in field "ck": a game's
--          hash <prefix>{g:<id>}:game, or <prefix>{btn}:meta. The other
--          keys are B .. suffix, B being KEYS[1] up to its last ':'.
-- ARGV[1]  the checkpoint the batch was prepared against ("" for none):
--          if the slot's differs, nothing is written and the reply is an
--          error starting with CONFLICT (the caller reads again).
-- ARGV[2]  the new checkpoint.
-- ARGV[3]  "" or the first sequence of the batch: then, if B pos does not
--          exist (Redis lost the projection) and that sequence is above
--          1, nothing is written and the reply is an error starting with
--          FLUSHED.
-- ARGV[4…] commands: name, key suffix, stride, count, then count
--          arguments. Stride 0: one call with every argument. Stride k > 0:
--          calls with as many whole groups of k arguments as fit in 1000.
--          Stride −k: one call per group of k arguments; if the suffix is
--          "*", the first argument of each group is that call's key suffix.
local hk = KEYS[1]
local base = string.match(hk, '^(.*:)[^:]*$')
local ck = redis.call('HGET', hk, 'ck') or ''
if ck ~= ARGV[1] then
  return redis.error_reply('CONFLICT checkpoint ' .. ck .. ', expected ' .. ARGV[1])
end
if ARGV[3] ~= '' and tonumber(ARGV[3]) > 1 and redis.call('EXISTS', base .. 'pos') == 0 then
  return redis.error_reply('FLUSHED the projection has no position but the batch starts at ' .. ARGV[3])
end
local i = 4
local n = #ARGV
while i <= n do
  local cmd, key, stride, count = ARGV[i], base .. ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local from, last = i + 4, i + 3 + count
  if stride == 0 then
    redis.call(cmd, key, unpack(ARGV, from, last))
  elseif stride < 0 then
    local k = -stride
    if ARGV[i + 1] == '*' then
      for j = from, last, k do
        redis.call(cmd, base .. ARGV[j], unpack(ARGV, j + 1, j + k - 1))
      end
    else
      for j = from, last, k do
        redis.call(cmd, key, unpack(ARGV, j, j + k - 1))
      end
    end
  else
    local step = stride * math.floor(1000 / stride)
    while from <= last do
      local to = from + step - 1
      if to > last then to = last end
      redis.call(cmd, key, unpack(ARGV, from, to))
      from = to + 1
    end
  end
  i = last + 1
end
redis.call('HSET', hk, 'ck', ARGV[2])
return 'OK'
