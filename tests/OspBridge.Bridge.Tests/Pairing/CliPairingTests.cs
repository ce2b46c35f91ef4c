using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace OspBridge.Bridge.Tests.Pairing;

/// <summary>
/// The pairing story of issue 10 with real <c>ospbridge</c> child processes on loopback (mDNS on <c>lo</c>):
/// agent presents a PIN, a wrong PIN fails and changes nothing, the right PIN pairs, peers lists it, chat echoes,
/// a file arrives byte-exact, an unpaired client is refused, and after restarting both sides chat works without a PIN.
/// </summary>
public sealed class CliPairingTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ospbridge-pair-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string Dir(string name) => Path.Combine(_root, name);

    private static CliChild StartAgent(string name, string state, string receive) =>
        CliChild.Start("agent", "--name", name, "--accept-all", "--receive-dir", receive, "--interface", "lo", "--state-dir", state);

    private static Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(params string[] args) =>
        Task.Run(() => CliProcess.Run(Step, args));

    /// <summary>The trust store file's bytes (hex), or "absent".</summary>
    private static string TrustSnapshot(string state)
    {
        string f = Path.Combine(state, "trust.json");
        return File.Exists(f) ? Convert.ToHexString(File.ReadAllBytes(f)) : "absent";
    }

    /// <summary>Starts <c>pair</c> reading the PIN from stdin, waits for the agent's next PIN line and types <paramref name="transform"/>(PIN).</summary>
    private static async Task<(int ExitCode, string StdOut, string StdErr, string Pin)> PairAsync(CliChild agent, string peer, string state, Func<string, string> transform)
    {
        int from = agent.Lines.Count;
        await using var pair = CliChild.Start("pair", peer, "--interface", "lo", "--timeout", "30", "--state-dir", state);
        var (line, _) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step, from);
        string pin = line["PIN: ".Length..];
        await pair.WriteLineAsync(transform(pin));
        var (rc, stdout, stderr) = await pair.WaitForExitAsync(Step);
        return (rc, stdout, stderr, pin);
    }

    private static string WrongPin(string pin)
    {
        char last = pin[^1];
        return pin[..^1] + (char)('0' + ((last - '0' + 1) % 10));
    }

    [Fact]
    public async Task PairChatSendRevokeAndReconnectWithoutPin()
    {
        string name = "Kitchen " + Guid.NewGuid().ToString("N")[..6];
        string agentState = Dir("agent"), clientState = Dir("client"), strangerState = Dir("stranger"), inbox = Dir("inbox");
        var agent = StartAgent(name, agentState, inbox);
        try
        {
            var (hello, _) = await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            Assert.Contains($"'{name}'", hello, StringComparison.Ordinal);
            string agentFp = hello.Split(' ').Single(w => w.StartsWith("fp=", StringComparison.Ordinal))[3..];
            string agentId = hello.Split(' ').Single(w => w.StartsWith("id=", StringComparison.Ordinal))[3..];

            // 1. A wrong PIN: "authentication failed", non-zero exit, and neither trust store gains the other.
            string clientBefore = TrustSnapshot(clientState);
            var wrong = await PairAsync(agent, name, clientState, WrongPin);
            Assert.NotEqual(0, wrong.ExitCode);
            Assert.Contains("ospbridge: authentication failed", wrong.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("paired", wrong.StdOut, StringComparison.Ordinal);
            var peersAfterWrong = await RunAsync("peers", "--json", "--state-dir", clientState);
            Assert.Equal(0, peersAfterWrong.ExitCode);
            Assert.Equal("", peersAfterWrong.StdOut.Trim());
            Assert.DoesNotContain(agent.Lines, l => l.StartsWith("paired ", StringComparison.Ordinal));
            Assert.Equal(clientBefore, TrustSnapshot(clientState));

            // The agent's back-off after one failure (docs/pairing.md) is short; wait it out.
            await Task.Delay(TimeSpan.FromSeconds(2.5));

            // 2. The right PIN pairs: "paired <name> <id> <fp>".
            var right = await PairAsync(agent, name, clientState, pin => pin);
            Assert.True(right.ExitCode == 0, right.StdErr);
            Assert.NotEqual(right.Pin, wrong.Pin); // a fresh PSK per attempt
            Assert.Matches(@"^\d{3,4}(-\d{3,4})+$", right.Pin);
            Assert.Equal($"paired {name} {agentId} {agentFp}", right.StdOut.Trim());
            await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step);

            // 3. peers --json lists it.
            var peers = await RunAsync("peers", "--json", "--state-dir", clientState);
            Assert.Equal(0, peers.ExitCode);
            var rows = peers.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.Single(rows);
            Assert.Equal(agentId, rows[0].GetProperty("id").GetString());
            Assert.Equal(name, rows[0].GetProperty("name").GetString());
            Assert.Equal(agentFp, rows[0].GetProperty("fp").GetString());
            var first = DateTimeOffset.Parse(rows[0].GetProperty("firstSeen").GetString()!, CultureInfo.InvariantCulture);
            var last = DateTimeOffset.Parse(rows[0].GetProperty("lastSeen").GetString()!, CultureInfo.InvariantCulture);
            Assert.True(first <= last);

            // 4. chat echoes (by name, by id and by fingerprint prefix).
            foreach (string who in new[] { name, agentId, agentFp[..8] })
            {
                var chat = await RunAsync("chat", who, "--message", "hello " + who, "--interface", "lo", "--state-dir", clientState);
                Assert.True(chat.ExitCode == 0, chat.StdErr);
                Assert.Equal("hello " + who, chat.StdOut.Trim());
            }

            // 5. send: byte-exact in the receive dir.
            var content = new byte[3 * 1024 * 1024 + 123];
            new Random(7).NextBytes(content);
            string file = Path.Combine(_root, "payload.bin");
            File.WriteAllBytes(file, content);
            var send = await RunAsync("send", name, file, "--interface", "lo", "--state-dir", clientState);
            Assert.True(send.ExitCode == 0, send.StdErr);
            string sha = Convert.ToHexStringLower(SHA256.HashData(content));
            Assert.Equal($"sent payload.bin {content.Length} {sha}", send.StdOut.Trim());
            Assert.Equal(content, File.ReadAllBytes(Path.Combine(inbox, "payload.bin")));
            await agent.WaitForLineAsync(l => l.StartsWith("received ", StringComparison.Ordinal) && l.Contains(sha, StringComparison.Ordinal), Step);

            // 6. An unpaired client is refused.
            var stranger = await RunAsync("chat", name, "--message", "hi", "--interface", "lo", "--state-dir", strangerState);
            Assert.NotEqual(0, stranger.ExitCode);
            Assert.Contains($"ospbridge: not paired with {name}", stranger.StdErr, StringComparison.Ordinal);

            // 7. Restart the agent (SIGTERM: goodbyes, "stopped"), then chat again: no PIN anywhere.
            agent.Terminate();
            var stopped = await agent.WaitForExitAsync(Step);
            Assert.Equal(0, stopped.ExitCode);
            Assert.EndsWith("stopped", stopped.StdOut.Trim(), StringComparison.Ordinal);
            await agent.DisposeAsync();
            agent = StartAgent(name, agentState, inbox);
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal) && l.Contains("fp=" + agentFp, StringComparison.Ordinal), Step);
            var again = await RunAsync("chat", name, "--message", "still there?", "--interface", "lo", "--state-dir", clientState);
            Assert.True(again.ExitCode == 0, again.StdErr);
            Assert.Equal("still there?", again.StdOut.Trim());
            Assert.DoesNotContain(agent.Lines, l => l.StartsWith("PIN: ", StringComparison.Ordinal));

            // 8. Revoke on the client: chat is refused again.
            var revoke = await RunAsync("peers", "revoke", agentId, "--state-dir", clientState);
            Assert.True(revoke.ExitCode == 0, revoke.StdErr);
            Assert.Equal($"revoked {name} {agentId} {agentFp}", revoke.StdOut.Trim());
            var revoked = await RunAsync("chat", name, "--message", "hi", "--interface", "lo", "--state-dir", clientState);
            Assert.NotEqual(0, revoked.ExitCode);
            Assert.Contains($"ospbridge: not paired with {name}", revoked.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            await agent.DisposeAsync();
        }
    }
}
