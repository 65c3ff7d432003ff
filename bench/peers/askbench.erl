%% askbench: the `ask` latency workload for Erlang/OTP (see README.md).
%%
%% S = 1,000 server processes, C = 16 client processes.  Each client does
%% N div C asks (N = 1,000,000 x scale): it picks a server with its own
%% MINSTD generator (seeded with its index + 1), sends {req, self(), Ref, V}
%% with a fresh reference and waits for {Ref, V + 1} for at most 5 s.  V is
%% the client's count of answered asks so far.  Every round trip is timed
%% (monotonic clock, ns) and kept by the client; main merges and sorts them
%% after the timed section and reports nearest-rank percentiles.
%%
%% Usage (see run.sh):
%%   erl +S T:T -noshell -noinput -pa DIR -run askbench main ask SCALE [TIMEOUT_S]
%%
%% Prints exactly one line on stdout,
%%   RESULT workload=ask impl=erlang threads=T msgs=2N secs=.. rate=..
%%          rss_kb=.. asks=N p50_us=.. p99_us=.. p999_us=.. max_us=..
%%          rss_timed_kb=..
%% (rss_kb: peak RSS of the whole run, sorting the samples included;
%% rss_timed_kb: peak RSS at the end of the timed section)
%% or a RESULT_FAILED line, and halts (0 on success).  A watchdog halts the
%% VM with status 3 after TIMEOUT_S seconds (default 300).
-module(askbench).

-export([main/1]).

-define(SERVERS, 1000).
-define(CLIENTS, 16).
-define(DEADLINE_MS, 5000).
-define(MINSTD_M, 2147483647).

main([W, ScaleS]) ->
    main([W, ScaleS, "300"]);
main(["ask", ScaleS, TimeoutS]) ->
    start_watchdog(list_to_integer(TimeoutS)),
    try ask(parse_float(ScaleS)) of
        ok -> halt(0)
    catch
        Class:Reason:Stack ->
            io:format("RESULT_FAILED workload=ask impl=erlang threads=~b "
                      "reason=~s~n",
                      [erlang:system_info(schedulers_online),
                       reason_word(Reason)]),
            io:format(standard_error, "askbench failed: ~p:~p~n~p~n",
                      [Class, Reason, Stack]),
            halt(2)
    end;
main([W | _]) ->
    io:format(standard_error, "askbench: unknown workload ~s~n", [W]),
    halt(2).

%% ---------------------------------------------------------------- helpers

parse_float(S) ->
    try list_to_float(S)
    catch error:badarg -> float(list_to_integer(S))
    end.

now_ns() ->
    erlang:monotonic_time(nanosecond).

start_watchdog(TimeoutS) ->
    spawn(fun() ->
                  receive never -> ok
                  after TimeoutS * 1000 ->
                          io:format(standard_error,
                                    "askbench: watchdog timeout after ~b s~n",
                                    [TimeoutS]),
                          erlang:halt(3, [{flush, false}])
                  end
          end).

%% Peak RSS of the VM: VmHWM of /proc/self/status, in kB.
vm_hwm_kb() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Bin, "VmHWM:\\s*(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(Kb).

reason_word({ask_failed, What, _}) -> atom_to_list(What);
reason_word(R) when is_atom(R) -> atom_to_list(R);
reason_word(_) -> "error".

us(Ns) -> io_lib:format("~.1f", [Ns / 1000]).

%% Nearest rank: the element at 1-based index ceil(Num/Den * n), computed in
%% integers so that 0.999 * n is not rounded the wrong way.
rank(Sorted, N, Num, Den) ->
    element(max(1, (Num * N + Den - 1) div Den), Sorted).

%% ---------------------------------------------------------------- ask

ask(Scale) ->
    N = max(1, round(1000000 * Scale)),
    K = N div ?CLIENTS,                       % asks per client
    Asks = K * ?CLIENTS,
    Asks > 0 orelse erlang:error(scale_too_small),
    Main = self(),
    Servers = list_to_tuple([spawn(fun server/0) || _ <- lists:seq(1, ?SERVERS)]),
    Clients = [spawn(fun() -> client(Main, I, K, Servers) end)
               || I <- lists:seq(0, ?CLIENTS - 1)],
    T0 = now_ns(),
    lists:foreach(fun(C) -> C ! go end, Clients),
    wait_done(?CLIENTS),
    T1 = now_ns(),
    TimedKb = vm_hwm_kb(),
    %% Outside the timed section: collect every client's samples.
    Samples = lists:append([collect(C) || C <- Clients]),
    lists:foreach(fun(S) -> exit(S, kill) end, tuple_to_list(Servers)),
    length(Samples) =:= Asks orelse erlang:error({sample_count, length(Samples), Asks}),
    Sorted = list_to_tuple(lists:sort(Samples)),
    Ns = T1 - T0,
    Secs = Ns / 1.0e9,
    Msgs = 2 * Asks,
    io:format("RESULT workload=ask impl=erlang threads=~b msgs=~b secs=~.6f "
              "rate=~.1f rss_kb=~b asks=~b p50_us=~s p99_us=~s p999_us=~s "
              "max_us=~s rss_timed_kb=~b~n",
              [erlang:system_info(schedulers_online), Msgs, Secs, Msgs / Secs,
               vm_hwm_kb(), Asks,
               us(rank(Sorted, Asks, 500, 1000)),
               us(rank(Sorted, Asks, 990, 1000)),
               us(rank(Sorted, Asks, 999, 1000)),
               us(element(Asks, Sorted)), TimedKb]),
    ok.

wait_done(0) -> ok;
wait_done(Left) ->
    receive
        {ask_done, _C} -> wait_done(Left - 1);
        {ask_failed, What, Detail} -> erlang:error({ask_failed, What, Detail})
    end.

collect(C) ->
    C ! {samples, self()},
    receive {ask_samples, C, L} -> L
    after 10000 -> erlang:error(no_samples)
    end.

server() ->
    receive
        {req, From, Ref, V} -> From ! {Ref, V + 1}, server()
    end.

client(Main, Index, K, Servers) ->
    receive go -> ok end,
    Samples = ask_loop(K, 0, Index + 1, Servers, Main, []),
    Main ! {ask_done, self()},
    receive {samples, From} -> From ! {ask_samples, self(), Samples} end.

%% Left asks to do; V answered so far; X the generator's state.
ask_loop(0, _V, _X, _Servers, _Main, Acc) ->
    Acc;
ask_loop(Left, V, X, Servers, Main, Acc) ->
    X1 = (X * 48271) rem ?MINSTD_M,
    Server = element(X1 rem ?SERVERS + 1, Servers),
    Ref = make_ref(),
    T0 = now_ns(),
    Server ! {req, self(), Ref, V},
    receive
        {Ref, R} ->
            T1 = now_ns(),
            case R =:= V + 1 of
                true ->
                    ask_loop(Left - 1, V + 1, X1, Servers, Main, [T1 - T0 | Acc]);
                false ->
                    Main ! {ask_failed, wrong_answer, {V, R}},
                    exit(normal)
            end
    after ?DEADLINE_MS ->
            Main ! {ask_failed, timeout, V},
            exit(normal)
    end.
