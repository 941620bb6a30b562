-- bench/wrk_pipeline.lua - wrk script for the pipelined HTTP workload
-- (bench/http.sh): every write carries DEPTH requests (default 16) for "/",
-- and wrk sends the next batch once all DEPTH responses have come back.
--
--   wrk -t1 -c100 -d5s --latency -s bench/wrk_pipeline.lua http://127.0.0.1:P/ -- 16
--
-- wrk counts every response, so Requests/sec counts requests, not batches;
-- its latency figures are per batch (the time from a batch's write to its
-- last response).

local depth = 16

init = function(args)
   local n = tonumber(args[1])
   if n ~= nil and n >= 1 and n <= 1024 then
      depth = math.floor(n)
   end
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format("GET", "/")
   end
   batch = table.concat(r)
end

request = function()
   return batch
end
