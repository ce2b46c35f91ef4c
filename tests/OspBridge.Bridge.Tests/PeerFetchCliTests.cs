using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OspBridge.Testing;
using OspBridge.Testing.Http;

namespace OspBridge.Bridge.Tests;

/// <summary>
/// Issue 11 "CLI" with real <c>ospbridge</c> child processes on loopback: an agent with <c>--http-origin</c> proxies to
/// an HttpListener origin in this test; a paired client fetches JSON, a 10 MB file byte-exact (-o), POSTs a file and
/// gets it echoed, sees status and headers with -i, gets 403 outside <c>--http-allow</c> and 502 with the origin down
/// (exit 0: a response arrived); an unpaired client is refused — over the data channel and over <c>--transport quic</c>.
/// </summary>
public sealed class PeerFetchCliTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly TestDirectory _root = new("ospbridge-fetch");
    private readonly byte[] _big = new byte[10 * 1024 * 1024 + 17];
    private int _secretHits;

    public PeerFetchCliTests() => new Random(11).NextBytes(_big);

    public void Dispose() => _root.Dispose();

    private static Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(params string[] args) =>
        Task.Run(() => CliProcess.Run(Step, args));

    /// <summary>The origin: /api/status (JSON), /files/big.bin (10 MB), /echo (POST body back), /secret (must never be reached).</summary>
    private async Task<byte[]> AnswerAsync(HttpListenerRequest req, HttpListenerResponse res)
    {
        string path = req.Url!.AbsolutePath;
        if (path == "/api/status")
        {
            res.ContentType = "application/json";
            res.AddHeader("X-Origin", "test-origin");
            return Encoding.UTF8.GetBytes("{\"ok\":true,\"name\":\"kitchen\"}");
        }
        if (path == "/files/big.bin")
        {
            res.ContentType = "application/octet-stream";
            return _big;
        }
        if (path == "/echo" && req.HttpMethod == "POST")
        {
            using var ms = new MemoryStream();
            await req.InputStream.CopyToAsync(ms);
            res.ContentType = req.ContentType ?? "application/octet-stream";
            res.AddHeader("X-Echo-Method", req.HttpMethod);
            return ms.ToArray();
        }
        if (path.StartsWith("/secret", StringComparison.Ordinal)) Interlocked.Increment(ref _secretHits);
        res.StatusCode = 404;
        return Encoding.UTF8.GetBytes("not found");
    }

    [Fact]
    public async Task FetchThroughAgentHttpOrigin()
    {
        await using var origin = TestHttpOrigin.Start(AnswerAsync);

        string name = "Fetch " + Guid.NewGuid().ToString("N")[..6];
        string agentState = _root["agent"], clientState = _root["client"], strangerState = _root["stranger"];
        var agent = CliChild.Start("agent", "--name", name, "--accept-all", "--interface", "lo", "--state-dir", agentState,
            "--http-origin", origin.Url, "--http-allow", "/api", "--http-allow", "/files", "--http-allow", "/echo");
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);

            // Pair (PIN read from stdin).
            int from = agent.Lines.Count;
            await using (var pair = CliChild.Start("pair", name, "--interface", "lo", "--timeout", "30", "--state-dir", clientState))
            {
                var (line, _) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step, from);
                await pair.WriteLineAsync(line["PIN: ".Length..]);
                var paired = await pair.WaitForExitAsync(Step);
                Assert.True(paired.ExitCode == 0, paired.StdErr);
            }

            string[] common = ["--interface", "lo", "--state-dir", clientState];

            // 1. GET of a small JSON to stdout.
            var json = await RunAsync(["fetch", name, "/api/status", .. common]);
            Assert.True(json.ExitCode == 0, json.StdErr);
            using (var doc = JsonDocument.Parse(json.StdOut))
            {
                Assert.True(doc.RootElement.GetProperty("ok").GetBoolean());
                Assert.Equal("kitchen", doc.RootElement.GetProperty("name").GetString());
            }

            // 2. -i: status line and headers first, then a blank line, then the body.
            var head = await RunAsync(["fetch", name, "/api/status", "-i", .. common]);
            Assert.True(head.ExitCode == 0, head.StdErr);
            var parts = head.StdOut.Split("\r\n\r\n", 2);
            Assert.Equal(2, parts.Length);
            var headLines = parts[0].Split("\r\n");
            Assert.Matches(@"^HTTP/\d\.\d 200( OK)?$", headLines[0]);
            Assert.Contains(headLines, l => l.Equals("X-Origin: test-origin", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(headLines, l => l.StartsWith("Content-Type: application/json", StringComparison.OrdinalIgnoreCase));
            Assert.Equal("{\"ok\":true,\"name\":\"kitchen\"}", parts[1]);

            // 3. A 10 MB file byte-exact with -o (stdout stays empty).
            string outFile = Path.Combine(_root.Path, "big.out");
            var big = await RunAsync(["fetch", name, "/files/big.bin", "-o", outFile, .. common]);
            Assert.True(big.ExitCode == 0, big.StdErr);
            Assert.Equal("", big.StdOut);
            Assert.Equal(_big, File.ReadAllBytes(outFile));

            // 4. POST -d @file is echoed (method defaults to POST with -d; -H reaches the origin).
            var payload = new byte[200_000];
            new Random(5).NextBytes(payload);
            string postFile = Path.Combine(_root.Path, "post.bin");
            File.WriteAllBytes(postFile, payload);
            string echoed = Path.Combine(_root.Path, "echo.out");
            var post = await RunAsync(["fetch", name, "/echo", "-d", "@" + postFile, "-H", "Content-Type: application/x-test", "-o", echoed, .. common]);
            Assert.True(post.ExitCode == 0, post.StdErr);
            Assert.Equal(payload, File.ReadAllBytes(echoed));
            var postHead = await RunAsync(["fetch", name, "/echo", "-X", "POST", "-d", "hello text", "-H", "Content-Type: text/plain", "-i", .. common]);
            Assert.True(postHead.ExitCode == 0, postHead.StdErr);
            Assert.Contains("X-Echo-Method: POST", postHead.StdOut, StringComparison.OrdinalIgnoreCase);
            Assert.EndsWith("\r\n\r\nhello text", postHead.StdOut, StringComparison.Ordinal);

            // 5. Outside --http-allow: 403 from the agent, the origin never sees it; exit 0 (a response arrived).
            var forbidden = await RunAsync(["fetch", name, "/secret/keys", "-i", .. common]);
            Assert.True(forbidden.ExitCode == 0, forbidden.StdErr);
            Assert.Matches(@"^HTTP/\d\.\d 403", forbidden.StdOut);
            Assert.Equal(0, Volatile.Read(ref _secretHits));

            // 6. An unpaired client: refused before any request.
            var stranger = await RunAsync("fetch", name, "/api/status", "--interface", "lo", "--state-dir", strangerState);
            Assert.NotEqual(0, stranger.ExitCode);
            Assert.Equal($"ospbridge: not paired with {name}", stranger.StdErr.Trim());

            // 7. --transport quic: the same requests over an LP2P QUIC transport (q2q), one stream per request.
            var quic = await RunAsync(["fetch", name, "/api/status", "--transport", "quic", "-i", .. common]);
            Assert.True(quic.ExitCode == 0, quic.StdErr);
            Assert.Matches(@"^HTTP/\d\.\d 200", quic.StdOut);
            Assert.EndsWith("\r\n\r\n{\"ok\":true,\"name\":\"kitchen\"}", quic.StdOut, StringComparison.Ordinal);
            string quicOut = Path.Combine(_root.Path, "big-quic.out");
            var quicBig = await RunAsync(["fetch", name, "/files/big.bin", "--transport", "quic", "-o", quicOut, .. common]);
            Assert.True(quicBig.ExitCode == 0, quicBig.StdErr);
            Assert.Equal(_big, File.ReadAllBytes(quicOut));
            string quicEcho = Path.Combine(_root.Path, "echo-quic.out");
            var quicPost = await RunAsync(["fetch", name, "/echo", "--transport", "quic", "-d", "@" + postFile, "-o", quicEcho, .. common]);
            Assert.True(quicPost.ExitCode == 0, quicPost.StdErr);
            Assert.Equal(payload, File.ReadAllBytes(quicEcho));
            var quicForbidden = await RunAsync(["fetch", name, "/secret/keys", "--transport", "quic", "-i", .. common]);
            Assert.True(quicForbidden.ExitCode == 0, quicForbidden.StdErr);
            Assert.Matches(@"^HTTP/\d\.\d 403", quicForbidden.StdOut);
            Assert.Equal(0, Volatile.Read(ref _secretHits));
            var quicStranger = await RunAsync("fetch", name, "/api/status", "--transport", "quic", "--interface", "lo", "--state-dir", strangerState);
            Assert.NotEqual(0, quicStranger.ExitCode);
            Assert.Equal($"ospbridge: not paired with {name}", quicStranger.StdErr.Trim());

            // 8. Origin down: 502 from the agent, exit 0 (both transports).
            await origin.StopAsync();
            var down = await RunAsync(["fetch", name, "/api/status", "-i", .. common]);
            Assert.True(down.ExitCode == 0, down.StdErr);
            Assert.Matches(@"^HTTP/\d\.\d 502", down.StdOut);
            var quicDown = await RunAsync(["fetch", name, "/api/status", "-i", "--transport", "quic", .. common]);
            Assert.True(quicDown.ExitCode == 0, quicDown.StdErr);
            Assert.Matches(@"^HTTP/\d\.\d 502", quicDown.StdOut);
        }
        finally
        {
            agent.Terminate();
            await agent.WaitForExitAsync(Step);
            await agent.DisposeAsync();
        }
    }
}
