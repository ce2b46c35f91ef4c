using System.Globalization;
using System.Security.Cryptography;

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

    /// <summary>
    /// A headless agent without <c>--accept-all</c> refuses a new peer before any PIN (docs/cli.md): <c>pair</c> must say
    /// the agent refused — not "authentication failed", which tells the user their PIN was wrong — and write nothing.
    /// </summary>
    [Fact]
    public async Task A_headless_agent_without_accept_all_refuses_and_pair_says_so()
    {
        string name = "Hall " + Guid.NewGuid().ToString("N")[..6];
        string agentState = Dir("agent"), clientState = Dir("client");
        await using var agent = CliChild.Start("agent", "--name", name, "--interface", "lo", "--state-dir", agentState);
        await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
        string clientBefore = TrustSnapshot(clientState);

        var (rc, stdout, stderr) = await RunAsync("pair", name, "--pin", "1234-5678-9012", "--interface", "lo", "--timeout", "30", "--state-dir", clientState);

        Assert.True(rc == 1, $"exit {rc}, stderr: {stderr}");
        Assert.Contains($"ospbridge: {name} refused pairing: ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("authentication failed", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout.Trim());
        Assert.DoesNotContain(agent.Lines, l => l.StartsWith("PIN: ", StringComparison.Ordinal) || l.StartsWith("paired ", StringComparison.Ordinal));
        Assert.Equal(clientBefore, TrustSnapshot(clientState));
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

    /// <summary>
    /// Issue 10 leftovers: a one-sided revoke fails fast with a clear error (not a timeout) and <c>pair</c> works again,
    /// from either side; per-app grants are listed by <c>peers</c> and revocable with <c>peers revoke --app</c>.
    /// </summary>
    [Fact]
    public async Task OneSidedRevokeFailsFastAndPairWorksAgainFromEitherSide_GrantsAreListedAndRevocable()
    {
        string name = "Hall " + Guid.NewGuid().ToString("N")[..6];
        string agentState = Dir("agent"), clientState = Dir("client"), inbox = Dir("inbox");
        var agent = StartAgent(name, agentState, inbox);
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            var paired = await PairAsync(agent, name, clientState, pin => pin);
            Assert.True(paired.ExitCode == 0, paired.StdErr);
            var (agentPaired, _) = await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step);
            string clientId = agentPaired.Split(' ')[^2];

            // The agent's record lists the CLI's app grant (given when the peer was admitted).
            var agentPeers = await RunAsync("peers", "--json", "--state-dir", agentState);
            var row = JsonDocument.Parse(agentPeers.StdOut.Trim()).RootElement;
            Assert.Equal(clientId, row.GetProperty("id").GetString());
            Assert.Equal(["ospbridge"], row.GetProperty("apps").EnumerateArray().Select(a => a.GetString()));

            // 1. The agent revokes the client; the client still trusts the agent: chat fails fast, saying why.
            var revoke = await RunAsync("peers", "revoke", clientId, "--state-dir", agentState);
            Assert.True(revoke.ExitCode == 0, revoke.StdErr);
            // This message comes only from the agent's auth-capabilities on a connection we admitted from our store (no
            // timeout path produces it); the in-process bound on the time is OspPairingSessionTests'
            // A_listener_the_advertiser_revoked_fails_fast_with_NotTrustedByPeer_instead_of_a_timeout.
            var chat = await RunAsync("chat", name, "--message", "hi", "--interface", "lo", "--state-dir", clientState);
            Assert.NotEqual(0, chat.ExitCode);
            Assert.Contains($"ospbridge: {name} no longer trusts us", chat.StdErr, StringComparison.Ordinal);
            Assert.Contains($"ospbridge pair {name}", chat.StdErr, StringComparison.Ordinal);

            // ... and pair works again (after the agent's 1 s back-off for the attempt the client cut short).
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            var again = await PairAsync(agent, name, clientState, pin => pin);
            Assert.True(again.ExitCode == 0, again.StdErr);
            var ok = await RunAsync("chat", name, "--message", "back", "--interface", "lo", "--state-dir", clientState);
            Assert.True(ok.ExitCode == 0, ok.StdErr);
            Assert.Equal("back", ok.StdOut.Trim());

            // 2. The client revokes the agent; the agent still trusts the client: chat says "not paired" and pair
            //    works again (the agent joins the PIN pairing on the connection it admitted from its store).
            Assert.Equal(0, (await RunAsync("peers", "revoke", name, "--state-dir", clientState)).ExitCode);
            var notPaired = await RunAsync("chat", name, "--message", "hi", "--interface", "lo", "--state-dir", clientState);
            Assert.NotEqual(0, notPaired.ExitCode);
            Assert.Contains($"ospbridge: not paired with {name}", notPaired.StdErr, StringComparison.Ordinal);
            int from = agent.Lines.Count;
            var repair = await PairAsync(agent, name, clientState, pin => pin);
            Assert.True(repair.ExitCode == 0, repair.StdErr);
            var (rePaired, _) = await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step, from); // the agent re-paired too
            Assert.Contains(clientId, rePaired, StringComparison.Ordinal);
            ok = await RunAsync("chat", name, "--message", "again", "--interface", "lo", "--state-dir", clientState);
            Assert.True(ok.ExitCode == 0, ok.StdErr);
            Assert.Equal("again", ok.StdOut.Trim());

            // 3. Revoke only the app grant on the agent, restarted without --accept-all: the paired client is refused.
            var grantRevoke = await RunAsync("peers", "revoke", clientId, "--app", "ospbridge", "--state-dir", agentState);
            Assert.True(grantRevoke.ExitCode == 0, grantRevoke.StdErr);
            Assert.StartsWith("revoked ospbridge on ", grantRevoke.StdOut.Trim(), StringComparison.Ordinal);
            agent.Terminate();
            await agent.WaitForExitAsync(Step);
            await agent.DisposeAsync();
            agent = CliChild.Start("agent", "--name", name, "--receive-dir", inbox, "--interface", "lo", "--state-dir", agentState);
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            var noGrant = await RunAsync("chat", name, "--message", "hi", "--interface", "lo", "--state-dir", clientState);
            Assert.NotEqual(0, noGrant.ExitCode);
            Assert.DoesNotContain("hi", noGrant.StdOut, StringComparison.Ordinal); // no echo: the agent refused the app
            Assert.StartsWith("ospbridge: ", noGrant.StdErr.Trim(), StringComparison.Ordinal);
            // A clear refusal that names the application, not "closed the chat channel without replying".
            Assert.Contains($"{name} refused the chat: it has no grant for the application 'ospbridge'", noGrant.StdErr, StringComparison.Ordinal);
            var stillPaired = await RunAsync("peers", "--json", "--state-dir", agentState);
            Assert.Contains(clientId, stillPaired.StdOut, StringComparison.Ordinal); // the pairing stays; only the grant went
        }
        finally
        {
            await agent.DisposeAsync();
        }
    }
}
