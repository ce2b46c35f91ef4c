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
/// byte-exact, a path outside the allow-list → 403.
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
        var listen = deviceHost.RunInNamespace(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            s.Listen(128);
            return s;
        });
        await using var origin = await PeerFetchTestOrigin.StartAsync(listen);
        output.WriteLine($"origin {origin.Uri} in {deviceHost.Namespace}");

        string name = "PF Device";
        string agentState = Path.Combine(_root, "agent"), clientState = Path.Combine(_root, "client");
        var agent = OspBridgeCli.Start(deviceHost, "agent", "--name", name, "--accept-all", "--http-origin", origin.Uri.ToString(),
            "--http-allow", "/api", "--interface", "eth0", "--state-dir", agentState);
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            var pair = await PairAsync(clientHost, agent, name, clientState);
            Assert.True(pair.ExitCode == 0, pair.StandardError);

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

    /// <summary><c>pair</c> in <paramref name="host"/> with its stdin on a FIFO fed the PIN the agent prints.</summary>
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
