namespace OspBridge.Interop.Tests.Mdns;

/// <summary>
/// OSP discovery between real <c>ospbridge</c> processes and avahi, each in its own network namespace of a
/// throw-away LAN. Every test also proves that nothing left through the machine's real interfaces.
/// </summary>
public sealed class MdnsInteropTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("ospb-mdns-state-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }

    private static string Field(string line, string key)
    {
        int i = line.IndexOf(key + "=", StringComparison.Ordinal);
        Assert.True(i >= 0, $"'{key}=' missing in: {line}");
        int end = line.IndexOf(' ', i);
        return end < 0 ? line[(i + key.Length + 1)..] : line[(i + key.Length + 1)..end];
    }

    [Fact]
    public async Task ThreeAgents_InThreeNamespaces_DiscoverEachOtherWithinOneSecond()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(3);
        var agents = new List<NetnsProcess>();
        try
        {
            var fps = new List<string>();
            for (int i = 0; i < 3; i++)
            {
                var (p, line) = await OspBridgeCli.AdvertiseAsync(lan.Hosts[i], _state, $"Agent {i}");
                agents.Add(p);
                fps.Add(Field(line, "fp"));
                output.WriteLine(line);
            }
            // Let the announcements finish (a record is multicast at most once per second, RFC 6762 §6).
            await Task.Delay(1500);
            // Each namespace runs a fresh listener for 1 s: it must find all three agents (itself included).
            // One after the other, > 1 s apart: started together, a listener whose socket opened just after
            // another listener's answer was multicast would get its answer deferred by the 1/s rate limit.
            var results = new List<JsonElement>[3];
            for (int i = 0; i < 3; i++)
            {
                results[i] = await OspBridgeCli.DiscoverAsync(lan.Hosts[i], 1.0);
                await Task.Delay(1100);
            }
            for (int i = 0; i < 3; i++)
            {
                var names = results[i].Select(j => j.GetProperty("name").GetString()).Order().ToList();
                Assert.Equal(["Agent 0", "Agent 1", "Agent 2"], names);
                foreach (var j in results[i])
                {
                    int k = int.Parse(j.GetProperty("name").GetString()!["Agent ".Length..], System.Globalization.CultureInfo.InvariantCulture);
                    Assert.Equal(fps[k], j.GetProperty("fp").GetString());
                    Assert.Equal(4433, j.GetProperty("port").GetInt32());
                    Assert.Contains(lan.Hosts[k].IPv4.ToString(), j.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()));
                    Assert.Equal(0ul, j.GetProperty("mv").GetUInt64());
                    Assert.False(string.IsNullOrEmpty(j.GetProperty("at").GetString()));
                    Assert.StartsWith(j.GetProperty("sn").GetString()! + ".", j.GetProperty("host").GetString(), StringComparison.Ordinal);
                }
            }

            // Latency, measured in process: a new listener in host 0 until all three are resolved.
            await using var observer = await AgentObserver.StartAsync(lan.Hosts[0]);
            var latency = await observer.WaitForAsync(o => o.Agents.Count == 3, TimeSpan.FromSeconds(5));
            output.WriteLine($"discovery latency of 3 established agents: {latency.TotalMilliseconds:F0} ms");
            Assert.True(latency < TimeSpan.FromSeconds(1), $"took {latency}");
        }
        finally
        {
            foreach (var p in agents) await p.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task NameConflict_SecondAgentIsRenamed()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(3);
        // -v: the agents log their mDNS events (established, conflict, renamed) to stderr, shown if this fails.
        var (a, lineA) = await OspBridgeCli.AdvertiseAsync(lan.Hosts[0], _state, "Front Door", "-v");
        await using var _ = a;
        var (b, lineB) = await OspBridgeCli.AdvertiseAsync(lan.Hosts[1], _state, "Front Door", "-v");
        await using var __ = b;
        output.WriteLine(lineA);
        output.WriteLine(lineB);
        Assert.StartsWith("advertising 'Front Door' ", lineA, StringComparison.Ordinal);
        // b probed, met a's defence and took the next name before announcing — and its "advertising" line says so: it
        // comes once the rename was applied to b's identity (session 12: a rename raised before b's advertiser knew its
        // publication ids used to be dropped; the agent then stayed 'Front Door' in its identity, hostname and TXT).
        if (!lineB.StartsWith("advertising 'Front Door (2)' ", StringComparison.Ordinal))
        {
            await Task.Delay(TimeSpan.FromSeconds(3)); // what followed (a late conflict, who renamed)
            // b first, then a: test.sh shows only the first 14 lines of a failure (session 11's excerpt ended after b's first stderr line).
            Assert.Fail($"b did not probe into 'Front Door (2)'.\nb stdout:\n{string.Join('\n', b.StandardOutputLines)}\nb stderr:\n{b.StandardError}\na stdout:\n{string.Join('\n', a.StandardOutputLines)}\na stderr:\n{a.StandardError}");
        }
        var renamed = await b.WaitForLineAsync(l => l.StartsWith("renamed ", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.Contains("Front-Door--2-.local", renamed, StringComparison.Ordinal); // agent hostname follows the new instance name

        var seen = await OspBridgeCli.DiscoverAsync(lan.Hosts[2], 2.0);
        var names = seen.Select(j => j.GetProperty("name").GetString()).Order().ToList();
        Assert.Equal(["Front Door", "Front Door (2)"], names);
        var renamedAgent = seen.Single(j => j.GetProperty("name").GetString() == "Front Door (2)");
        Assert.Equal(Field(lineB, "fp"), renamedAgent.GetProperty("fp").GetString());
        Assert.Contains(".Front-Door--2-.local", renamedAgent.GetProperty("host").GetString(), StringComparison.Ordinal);
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task StoppedAgent_IsRemovedEverywhere_ByGoodbye()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(3);
        var (agent, _) = await OspBridgeCli.AdvertiseAsync(lan.Hosts[0], _state, "Leaving Soon"); // default TTLs (120 s / 75 min)
        await using var o1 = await AgentObserver.StartAsync(lan.Hosts[1]);
        await using var o2 = await AgentObserver.StartAsync(lan.Hosts[2]);
        await o1.WaitForAsync(o => o.Agents.Count == 1, TimeSpan.FromSeconds(5));
        await o2.WaitForAsync(o => o.Agents.Count == 1, TimeSpan.FromSeconds(5));

        agent.Signal(15); // SIGTERM: graceful stop with goodbyes
        var t1 = await o1.WaitForAsync(o => o.Agents.Count == 0, TimeSpan.FromSeconds(10));
        var t2 = await o2.WaitForAsync(o => o.Agents.Count == 0, TimeSpan.FromSeconds(10));
        Assert.True(await agent.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, agent.ExitCode);
        Assert.Contains("stopped", agent.StandardOutputLines);
        output.WriteLine($"removed after {t1.TotalMilliseconds:F0} / {t2.TotalMilliseconds:F0} ms");
        // Goodbye records expire after 1 s (RFC 6762 §10.1) — far sooner than the 120 s TTL.
        Assert.True(t1 < TimeSpan.FromSeconds(5) && t2 < TimeSpan.FromSeconds(5));
        Assert.Contains(o1.Events, e => e.Kind == "removed" && e.Agent.InstanceName == "Leaving Soon");
        await agent.DisposeAsync();
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task KilledAgent_WithoutGoodbye_ExpiresByTtl()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        const int Ttl = 4;
        var (agent, _) = await OspBridgeCli.AdvertiseAsync(lan.Hosts[0], _state, "Crashy", "--ttl", Ttl.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var o = await AgentObserver.StartAsync(lan.Hosts[1]);
        await o.WaitForAsync(x => x.Agents.Count == 1, TimeSpan.FromSeconds(5));
        // Survives several TTLs while alive (refresh queries at 80–95 % are answered).
        await Task.Delay(TimeSpan.FromSeconds(2.5 * Ttl));
        Assert.Single(o.Agents);
        Assert.DoesNotContain(o.Events, e => e.Kind == "removed");

        agent.Signal(9); // SIGKILL: no goodbye
        var killedAt = o.Now;
        var t = await o.WaitForAsync(x => x.Agents.Count == 0, TimeSpan.FromSeconds(Ttl + 5));
        output.WriteLine($"expired {t.TotalMilliseconds:F0} ms after SIGKILL (TTL {Ttl} s)");
        Assert.True(t <= TimeSpan.FromSeconds(Ttl + 1), $"expiry took {t}");
        Assert.True(await agent.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        await agent.DisposeAsync();
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task Avahi_SeesOurAgent_WithOspTxtKeys()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        await using var avahi = await AvahiDaemon.StartAsync(lan.Hosts[0], "avahi-h0");
        var (agent, line) = await OspBridgeCli.AdvertiseAsync(lan.Hosts[1], _state, "Living Room TV");
        await using var _ = agent;
        string fp = Field(line, "fp"), host = Field(line, "host");

        ProcessResult r = await avahi.RunClientAsync(lan.Hosts[0], "avahi-browse", TimeSpan.FromSeconds(20), "-rpt", "_openscreen._udp");
        output.WriteLine(r.StandardOutput + r.StandardError);
        r.EnsureSuccess("avahi-browse");
        var resolved = r.StandardOutput.Split('\n').Where(l => l.StartsWith("=;eth0;IPv4;", StringComparison.Ordinal)).ToList();
        var entry = Assert.Single(resolved);
        // =;iface;proto;name;type;domain;host;address;port;txt
        var f = entry.Split(';');
        Assert.Equal(@"Living\032Room\032TV", f[3]);
        Assert.Equal("_openscreen._udp", f[4]);
        Assert.Equal(host, f[6]);
        Assert.Equal(lan.Hosts[1].IPv4.ToString(), f[7]);
        Assert.Equal("4433", f[8]);
        Assert.Contains($"\"fp={fp}\"", f[9], StringComparison.Ordinal);
        Assert.Contains("\"mv=\\000\"", f[9], StringComparison.Ordinal);      // varint 0, shown by avahi as \000
        Assert.Matches("\"at=[A-Za-z0-9+/]{16}\"", f[9]);
        Assert.Contains($"\"sn={host.Split('.')[0]}\"", f[9], StringComparison.Ordinal);
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task We_SeeAndResolve_AvahiServicesAndHostNames()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        await using var avahi = await AvahiDaemon.StartAsync(lan.Hosts[0], "avahi-h0");
        const string Fp = "Vx7tqgvGG14ZOBpwAg//cXdDCZoyY5tE9i39W7Tilp4=";
        await using var svc = avahi.StartClient(lan.Hosts[0], "avahi-publish", "-s", "Avahi Screen", "_openscreen._udp", "4444",
            $"fp={Fp}", "mv=\u0005", "at=abcdEFGH1234", "sn=AAECAwQ");
        await using var bad = avahi.StartClient(lan.Hosts[0], "avahi-publish", "-s", "Broken TXT", "_openscreen._udp", "4445", "fp=short", "mv=\u0000", "at=abcdefgh");
        await using var addr = avahi.StartClient(lan.Hosts[0], "avahi-publish", "-a", "-R", "camera-7f3a.local", "10.213.0.77");
        await using var uuid = avahi.StartClient(lan.Hosts[0], "avahi-publish", "-a", "-R", "0f2d7c1e-3b7a-4f3e-9c61-5a2b8e9d0a11.local", "fd00:213::77");
        await svc.WaitForLineAsync(l => l.Contains("Established", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        await addr.WaitForLineAsync(l => l.Contains("Established", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        await uuid.WaitForLineAsync(l => l.Contains("Established", StringComparison.Ordinal), TimeSpan.FromSeconds(10));

        var seen = await OspBridgeCli.DiscoverAsync(lan.Hosts[1], 2.0);
        var j = Assert.Single(seen); // "Broken TXT" (fp not 44 chars) is ignored
        Assert.Equal("Avahi Screen", j.GetProperty("name").GetString());
        Assert.Equal(4444, j.GetProperty("port").GetInt32());
        Assert.Equal("avahi-h0.local", j.GetProperty("host").GetString());
        Assert.Equal(Fp, j.GetProperty("fp").GetString());
        Assert.Equal(5ul, j.GetProperty("mv").GetUInt64());
        Assert.Equal("abcdEFGH1234", j.GetProperty("at").GetString());
        Assert.Equal("AAECAwQ", j.GetProperty("sn").GetString());
        Assert.Contains(lan.Hosts[0].IPv4.ToString(), j.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()));

        var r1 = await OspBridgeCli.RunAsync(lan.Hosts[1], TimeSpan.FromSeconds(30), "resolve", "camera-7f3a.local", "--interface", "eth0", "--timeout", "3");
        r1.EnsureSuccess("ospbridge resolve");
        Assert.Equal("10.213.0.77", r1.StandardOutput.Trim());
        var r2 = await OspBridgeCli.RunAsync(lan.Hosts[1], TimeSpan.FromSeconds(30), "resolve", "0f2d7c1e-3b7a-4f3e-9c61-5a2b8e9d0a11.local", "--interface", "eth0", "--timeout", "3");
        r2.EnsureSuccess("ospbridge resolve");
        Assert.Equal("fd00:213::77", r2.StandardOutput.Trim());
        var r3 = await OspBridgeCli.RunAsync(lan.Hosts[1], TimeSpan.FromSeconds(30), "resolve", "avahi-h0.local", "--interface", "eth0", "--timeout", "3");
        r3.EnsureSuccess("ospbridge resolve");
        Assert.Contains(lan.Hosts[0].IPv4.ToString(), r3.StandardOutput, StringComparison.Ordinal);
        var r4 = await OspBridgeCli.RunAsync(lan.Hosts[1], TimeSpan.FromSeconds(30), "resolve", "nobody-here.local", "--interface", "eth0", "--timeout", "1");
        Assert.Equal(1, r4.ExitCode);
        guard.AssertNoLeak();
    }
}
