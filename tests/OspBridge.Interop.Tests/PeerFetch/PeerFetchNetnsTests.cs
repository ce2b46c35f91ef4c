using System.Net;
using System.Net.Sockets;
using OspBridge.Interop.Tests.Mdns;
using OspBridge.Testing.Netns;
using Xunit.Abstractions;

namespace OspBridge.Interop.Tests.PeerFetch;

/// <summary>
/// Issue 11 "must show" 1 across two test-made network namespaces with the real CLI: a device agent
/// (<c>agent --http-origin</c>, allow-list <c>/api</c>) proxying to an HTTP origin on its own namespace's loopback,
/// and <c>fetch</c> in the other namespace after PIN pairing — over the LP2P data channel and over the LP2P QUIC
/// transport: GET of 1 KB and 10 MB byte-exact, a streamed (chunked) 8 MB body, POST and PUT of 5 MB echoed
/// byte-exact, a path outside the allow-list → 403. The second test fills the rest of the matrix: the WebRTC data
/// channel (<c>fetch --transport webrtc</c>, signaled over the LP2P session), a 200 MB GET checked by SHA-256, 64
/// concurrent requests on one connection (<c>fetch --parallel 64</c>) over all three transports, a slow origin (first
/// byte after ≥ 3 s, body trickled) that does not hold up another request, and 502 once the origin is down. The third:
/// SIGINT to <c>fetch</c> (before the head and mid-body) aborts the agent's origin request within seconds over all
/// three transports, and SIGINT to the agent ends a fetch mid-body promptly. (Until session 7 the runtime killed
/// <c>fetch</c> on SIGINT before anything was sent — System.CommandLine 2.0.0 no longer cancels the action's token
/// itself — so the origin request was aborted only at the QUIC idle timeout, ~44 s later.)
/// </summary>
public sealed class PeerFetchNetnsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);
    private readonly string _root = Directory.CreateTempSubdirectory("ospb-pf-netns-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task TwoNamespaces_FetchOverDataChannelAndQuic_GetPostPutStreamingAndAllowList()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];

        // The origin listens on the device namespace's 127.0.0.1 (a socket made inside it), served by this process.
        var listen = ListenOnLoopback(deviceHost);
        await using var origin = await PeerFetchTestOrigin.StartAsync(listen);
        output.WriteLine($"origin {origin.Uri} in {deviceHost.Namespace}");

        string name = "PF Device";
        string clientState = Path.Combine(_root, "client");
        var agent = await StartPairedAgentAsync(deviceHost, clientHost, name, origin.Uri, clientState);
        try
        {

            string upload = Path.Combine(_root, "upload.bin");
            await File.WriteAllBytesAsync(upload, TestBodies.Make(5_000_000, seed: 7));
            foreach (string transport in new[] { "datachannel", "quic" })
            {
                async Task<byte[]> FetchAsync(string path, params string[] extra)
                {
                    string file = Path.Combine(_root, $"{transport}-{Guid.NewGuid():N}.out");
                    var r = await OspBridgeCli.RunAsync(clientHost, Step, ["fetch", name, path, "-o", file, "--transport", transport,
                        "--interface", "eth0", "--state-dir", clientState, .. extra]);
                    output.WriteLine($"{transport} {path} {string.Join(' ', extra)} → {r.ExitCode} {r.StandardError.Trim()}");
                    Assert.True(r.ExitCode == 0, $"{transport} {path}: {r.StandardError}");
                    return await File.ReadAllBytesAsync(file);
                }

                Assert.Equal(TestBodies.Make(1000), await FetchAsync("/api/bytes/1000"));
                Assert.Equal(TestBodies.Make(10_000_000, seed: 3), await FetchAsync("/api/bytes/10000000?seed=3"));
                Assert.Equal(TestBodies.Make(8 << 20), await FetchAsync($"/api/stream/{8 << 20}"));
                var sent = await File.ReadAllBytesAsync(upload);
                Assert.Equal(sent, await FetchAsync("/api/echo", "-X", "POST", "-d", "@" + upload, "-H", "Content-Type: application/octet-stream"));
                Assert.Equal(sent, await FetchAsync("/api/echo", "-X", "PUT", "-d", "@" + upload, "-H", "Content-Type: application/octet-stream"));

                // Outside the allow-list: the device answers 403 (a response arrived, so fetch exits 0; -i shows the status).
                var denied = await OspBridgeCli.RunAsync(clientHost, Step, "fetch", name, "/secret", "-i", "--transport", transport,
                    "--interface", "eth0", "--state-dir", clientState);
                Assert.True(denied.ExitCode == 0, denied.StandardError);
                Assert.Contains(" 403", denied.StandardOutput.Split('\n')[0], StringComparison.Ordinal);
            }
        }
        finally
        {
            output.WriteLine(string.Join('\n', agent.StandardOutputLines.TakeLast(20)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task TwoNamespaces_WebRtc_200MB_64Concurrent_SlowOrigin_OriginDown()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];
        var listen = ListenOnLoopback(deviceHost);
        // Kestrel listens on this descriptor but does not close it when it stops (the socket would keep taking
        // connections nobody accepts): remember which socket it is, to close it for the "origin down" step.
        int listenFd = (int)listen.Handle;
        string? listenInode = new FileInfo($"/proc/self/fd/{listenFd}").LinkTarget;
        await using var origin = await PeerFetchTestOrigin.StartAsync(listen);

        string name = "PF Matrix";
        string clientState = Path.Combine(_root, "client");
        var agent = await StartPairedAgentAsync(deviceHost, clientHost, name, origin.Uri, clientState);
        try
        {
            string[] Fetch(string transport, string path, string file, params string[] extra) =>
                ["fetch", name, path, "-o", file, "--transport", transport, "--interface", "eth0", "--state-dir", clientState, .. extra];
            async Task<ProcessResult> RunAsync(string what, string[] args)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var r = await OspBridgeCli.RunAsync(clientHost, Step, args);
                output.WriteLine($"{what} → {r.ExitCode} in {clock.Elapsed.TotalSeconds:F1} s {r.StandardError.Trim()}");
                Assert.True(r.ExitCode == 0, $"{what}: exit {r.ExitCode}: {r.StandardError}");
                return r;
            }
            string Out() => Path.Combine(_root, $"{Guid.NewGuid():N}.out");

            // WebRTC data channel: 10 MB byte-exact, 5 MB POST echoed, 403 outside the allow-list.
            string file = Out();
            await RunAsync("webrtc GET 10 MB", Fetch("webrtc", "/api/bytes/10000000?seed=9", file));
            Assert.Equal(TestBodies.Make(10_000_000, seed: 9), await File.ReadAllBytesAsync(file));
            string upload = Path.Combine(_root, "upload.bin");
            await File.WriteAllBytesAsync(upload, TestBodies.Make(5_000_000, seed: 11));
            file = Out();
            await RunAsync("webrtc POST 5 MB", Fetch("webrtc", "/api/echo", file, "-X", "POST", "-d", "@" + upload, "-H", "Content-Type: application/octet-stream"));
            Assert.Equal(await File.ReadAllBytesAsync(upload), await File.ReadAllBytesAsync(file));
            var denied = await RunAsync("webrtc /secret", ["fetch", name, "/secret", "-i", "--transport", "webrtc", "--interface", "eth0", "--state-dir", clientState]);
            Assert.Contains(" 403", denied.StandardOutput.Split('\n')[0], StringComparison.Ordinal);

            // 200 MB over the LP2P QUIC transport, checked by SHA-256 (never held whole in memory on either side).
            const long Big = 200_000_000;
            file = Out();
            await RunAsync("quic GET 200 MB", Fetch("quic", $"/api/gen/{Big}?seed=4", file));
            Assert.Equal(Big, new FileInfo(file).Length);
            byte[] got;
            await using (var f = File.OpenRead(file)) got = await System.Security.Cryptography.SHA256.HashDataAsync(f);
            Assert.Equal(Convert.ToHexString(TestBodies.Sha256(Big, seed: 4)), Convert.ToHexString(got));
            File.Delete(file);

            // 64 concurrent requests on one connection, each held 1 s by the origin.
            foreach (string transport in new[] { "datachannel", "quic", "webrtc" })
            {
                origin.ResetMaxInFlight();
                file = Out();
                var r = await RunAsync($"{transport} 64 × /api/slow", Fetch(transport, "/api/slow?ms=1000", file, "--parallel", "64"));
                Assert.Contains("64 × 200", r.StandardError, StringComparison.Ordinal);
                string one = "{\"slept\":1000}";
                Assert.Equal(string.Concat(Enumerable.Repeat(one, 64)), await File.ReadAllTextAsync(file));
                output.WriteLine($"{transport}: origin saw up to {origin.MaxInFlight} requests at once");
                Assert.True(origin.MaxInFlight >= 32, $"{transport}: the origin saw at most {origin.MaxInFlight} of 64 requests at once");
            }

            // A slow origin: the held request does not hold up another one; its trickled body arrives whole.
            string slowFile = Out();
            await using (var slow = OspBridgeCli.Start(clientHost, Fetch("datachannel", "/api/held", slowFile)))
            {
                await origin.HeldStarted.Task.WaitAsync(Step);
                file = Out();
                await RunAsync("datachannel GET 1 KB while /api/held waits", Fetch("datachannel", "/api/bytes/1000", file));
                Assert.Equal(TestBodies.Make(1000), await File.ReadAllBytesAsync(file));
                Assert.False(slow.HasExited, "the held fetch ended before the origin answered");
                origin.HeldRelease.TrySetResult();
                Assert.True(await slow.WaitForExitAsync(Step), "the held fetch did not finish after the origin answered");
                Assert.True(slow.ExitCode == 0, slow.StandardError);
                Assert.Equal(TestBodies.Make(20 << 10, seed: 5), await File.ReadAllBytesAsync(slowFile));
            }

            file = Out();
            await RunAsync("datachannel GET after the slow origin", Fetch("datachannel", "/api/bytes/1000", file));
            Assert.Equal(TestBodies.Make(1000), await File.ReadAllBytesAsync(file));

            // Origin down: 502 from the device (a response arrived, so fetch exits 0).
            await origin.DisposeAsync();
            if (listenInode is not null && new FileInfo($"/proc/self/fd/{listenFd}").LinkTarget == listenInode)
                new SafeSocketHandle(listenFd, ownsHandle: true).Dispose();
            output.WriteLine($"origin stopped; listening socket {listenInode} closed");
            foreach (string transport in new[] { "datachannel", "quic" })
            {
                var down = await RunAsync($"{transport} with the origin down", ["fetch", name, "/api/json", "-i", "--transport", transport, "--interface", "eth0", "--state-dir", clientState]);
                Assert.Contains(" 502", down.StandardOutput.Split('\n')[0], StringComparison.Ordinal);
            }
        }
        finally
        {
            output.WriteLine(string.Join('\n', agent.StandardOutputLines.TakeLast(20)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    /// <summary>How soon after a SIGINT the other side must have seen the cancel (the QUIC idle timeout is ~30-45 s).</summary>
    private static readonly TimeSpan CancelBound = TimeSpan.FromSeconds(5);

    /// <summary>
    /// SIGINT to <c>fetch</c> cancels the request on the wire and closes the session: over every transport the agent's
    /// origin request is aborted within <see cref="CancelBound"/> — both while waiting for the response head
    /// (<c>/api/wait-abort</c>) and mid-body (<c>/api/drip</c>) — and fetch exits 130. The other way round: SIGINT to the
    /// agent mid-response ends the fetch promptly with one error line (the agent closes its sessions), not after the
    /// idle timeout.
    /// </summary>
    [Fact]
    public async Task TwoNamespaces_SigintToFetchAbortsOriginRequest_SigintToAgentEndsFetch_AllTransports()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];
        var listen = ListenOnLoopback(deviceHost);
        await using var origin = await PeerFetchTestOrigin.StartAsync(listen);
        string name = "PF Cancel";
        string clientState = Path.Combine(_root, "client");
        var agent = await StartPairedAgentAsync(deviceHost, clientHost, name, origin.Uri, clientState);
        string[] transports = ["datachannel", "quic", "webrtc"];
        try
        {
            string[] Fetch(string transport, string path) =>
                ["fetch", name, path, "-o", Path.Combine(_root, $"{Guid.NewGuid():N}.out"), "--transport", transport,
                    "--interface", "eth0", "--state-dir", clientState];

            foreach (string transport in transports)
            {
                foreach (string path in new[] { "/api/wait-abort", "/api/drip" })
                {
                    origin.ResetAbortWatch();
                    await using var fetch = OspBridgeCli.Start(clientHost, Fetch(transport, path));
                    await origin.Started.Task.WaitAsync(Step);
                    if (path == "/api/drip") await Task.Delay(300); // let the first 256 KiB reach the client (not a synchronisation)
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    fetch.Signal(2); // SIGINT
                    bool exited = await fetch.WaitForExitAsync(Step);
                    var exitAfter = clock.Elapsed;
                    bool aborted = await Task.WhenAny(origin.Aborted.Task, Task.Delay(Step)) == origin.Aborted.Task;
                    var abortAfter = clock.Elapsed;
                    output.WriteLine($"{transport} {path}: SIGINT → fetch exit {(exited ? fetch.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")} " +
                        $"after {exitAfter.TotalSeconds:F2} s, origin abort {(aborted ? "after " + abortAfter.TotalSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " s" : "not seen")} {fetch.StandardError.Trim()}");
                    Assert.True(exited && fetch.ExitCode == 130, $"{transport} {path}: fetch after SIGINT: exited {exited}, code {(exited ? fetch.ExitCode : -1)}: {fetch.StandardError}");
                    Assert.True(exitAfter < CancelBound, $"{transport} {path}: fetch took {exitAfter.TotalSeconds:F2} s to exit after SIGINT");
                    Assert.True(aborted && abortAfter < CancelBound,
                        $"{transport} {path}: the agent's origin request was {(aborted ? $"aborted only {abortAfter.TotalSeconds:F2} s" : "not aborted within " + Step.TotalSeconds + " s")} after SIGINT to fetch (bound {CancelBound.TotalSeconds} s)");
                }
            }

            // The other way: SIGINT to the agent mid-response; fetch must end promptly with one error line.
            foreach (string transport in transports)
            {
                origin.ResetAbortWatch();
                await using var fetch = OspBridgeCli.Start(clientHost, Fetch(transport, "/api/drip"));
                await origin.Started.Task.WaitAsync(Step);
                await Task.Delay(300);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                agent.Signal(2);
                bool agentExited = await agent.WaitForExitAsync(Step);
                bool exited = await fetch.WaitForExitAsync(Step);
                var exitAfter = clock.Elapsed;
                output.WriteLine($"{transport}: SIGINT to the agent → agent exit {(agentExited ? agent.ExitCode : -1)}, fetch exit " +
                    $"{(exited ? fetch.ExitCode : -1)} after {exitAfter.TotalSeconds:F2} s: {fetch.StandardError.Trim()}");
                Assert.True(agentExited, $"{transport}: the agent did not exit after SIGINT");
                Assert.True(exited, $"{transport}: fetch did not end within {Step.TotalSeconds} s after the agent's SIGINT");
                Assert.True(exitAfter < CancelBound, $"{transport}: fetch ended only {exitAfter.TotalSeconds:F2} s after SIGINT to the agent");
                Assert.True(fetch.ExitCode is not 0 and not 130, $"{transport}: fetch exit {fetch.ExitCode} when the agent went away mid-body");
                string err = fetch.StandardError.Trim();
                Assert.True(err.StartsWith("ospbridge: ", StringComparison.Ordinal) && !err.Contains('\n', StringComparison.Ordinal),
                    $"{transport}: expected one 'ospbridge: ...' line, got: {err}");
                await agent.DisposeAsync();
                agent = OspBridgeCli.Start(deviceHost, "agent", "--name", name, "--accept-all", "--http-origin", origin.Uri.ToString(),
                    "--http-allow", "/api", "--interface", "eth0", "--state-dir", Path.Combine(_root, "agent"));
                await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            }
        }
        finally
        {
            output.WriteLine(string.Join('\n', agent.StandardOutputLines.TakeLast(20)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    /// <summary><c>pair</c> in <paramref name="host"/> with its stdin on a FIFO fed the PIN the agent prints.</summary>
    /// <summary>A listening TCP socket on the namespace's 127.0.0.1 (made inside it), for an origin this process serves.</summary>
    private static Socket ListenOnLoopback(NetnsHost host) => host.RunInNamespace(() =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        s.Listen(128);
        return s;
    });

    /// <summary>
    /// <c>agent --http-origin &lt;origin&gt; --http-allow /api</c> on <paramref name="deviceHost"/>, paired from
    /// <paramref name="clientHost"/> with the client state in <paramref name="clientState"/>; the caller disposes the agent.
    /// </summary>
    private async Task<NetnsProcess> StartPairedAgentAsync(NetnsHost deviceHost, NetnsHost clientHost, string name, Uri origin, string clientState)
    {
        var agent = OspBridgeCli.Start(deviceHost, "agent", "--name", name, "--accept-all", "--http-origin", origin.ToString(),
            "--http-allow", "/api", "--interface", "eth0", "--state-dir", Path.Combine(_root, "agent"));
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            var pair = await PairAsync(clientHost, agent, name, clientState);
            Assert.True(pair.ExitCode == 0, pair.StandardError);
            return agent;
        }
        catch
        {
            output.WriteLine(string.Join('\n', agent.StandardOutputLines.TakeLast(20)));
            await agent.DisposeAsync();
            throw;
        }
    }

    private async Task<ProcessResult> PairAsync(NetnsHost host, NetnsProcess agent, string peer, string state)
    {
        string fifo = Path.Combine(_root, "pin");
        (await NetnsLan.RunCommandAsync("mkfifo", [fifo], TimeSpan.FromSeconds(10))).EnsureSuccess("mkfifo");
        string cmd = $"exec '{OspBridgeCli.DotnetHost}' '{OspBridgeCli.Dll}' pair '{peer}' --interface eth0 --timeout 60 --state-dir '{state}' < '{fifo}'";
        var pair = host.RunAsync("sh", ["-c", cmd], Step);
        await using var writer = new StreamWriter(await Task.Run(() => new FileStream(fifo, FileMode.Open, FileAccess.Write)));
        string pinLine = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step);
        await writer.WriteLineAsync(pinLine["PIN: ".Length..]);
        await writer.FlushAsync();
        var result = await pair;
        output.WriteLine($"pair → {result.ExitCode}: {result.StandardOutput.Trim()} | {result.StandardError.Trim()}");
        return result;
    }
}
