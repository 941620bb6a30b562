module eddy/bench/peers/go

go 1.19
