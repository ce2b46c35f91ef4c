using System.Security.Cryptography;
using OspBridge.Interop.Tests.Mdns;

namespace OspBridge.Interop.Tests.Osp;

/// <summary>
/// Issue 10 "must show" 1 and 2 with the real CLI, two hosts in separate network namespaces: discover → QUIC → PIN
/// pairing (the PIN read from the agent's stdout and typed into <c>pair</c>'s stdin) → chat echo and a 100 MB file
/// byte-exact; a wrong PIN fails and changes nothing; an unpaired peer is refused; restart both → no PIN.
/// </summary>
public sealed class PairingNetnsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly string _root = Directory.CreateTempSubdirectory("ospb-pair-netns-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static string Field(string line, string key)
    {
        int i = line.IndexOf(key + "=", StringComparison.Ordinal);
        Assert.True(i >= 0, $"'{key}=' missing in: {line}");
        int end = line.IndexOf(' ', i);
        return end < 0 ? line[(i + key.Length + 1)..] : line[(i + key.Length + 1)..end];
    }

    private static NetnsProcess StartAgent(NetnsHost host, string name, string state, string inbox) =>
        OspBridgeCli.Start(host, "agent", "--name", name, "--accept-all", "--receive-dir", inbox, "--interface", "eth0", "--state-dir", state);

    private static string TrustSnapshot(string state)
    {
        string f = Path.Combine(state, "trust.json");
        return File.Exists(f) ? Convert.ToHexString(File.ReadAllBytes(f)) : "absent";
    }

    /// <summary>
    /// Runs <c>pair</c> in <paramref name="host"/> with its stdin on a FIFO; once the agent printed a new PIN line, writes
    /// <paramref name="transform"/>(PIN) into the FIFO. Returns the result and the PIN shown.
    /// </summary>
    private async Task<(ProcessResult Result, string Pin)> PairAsync(NetnsHost host, NetnsProcess agent, string peer, string state)
        => await PairAsync(host, agent, peer, state, pin => pin);

    private async Task<(ProcessResult Result, string Pin)> PairAsync(NetnsHost host, NetnsProcess agent, string peer, string state, Func<string, string> transform)
    {
        string fifo = Path.Combine(_root, "pin-" + Guid.NewGuid().ToString("N")[..8]);
        (await NetnsLan.RunCommandAsync("mkfifo", [fifo], TimeSpan.FromSeconds(10))).EnsureSuccess("mkfifo");
        int seen = agent.StandardOutputLines.Count(l => l.StartsWith("PIN: ", StringComparison.Ordinal));
        string cmd = $"exec '{OspBridgeCli.DotnetHost}' '{OspBridgeCli.Dll}' pair '{peer}' --interface eth0 --timeout 30 --state-dir '{state}' < '{fifo}'";
        var pair = host.RunAsync("sh", ["-c", cmd], Step);
        // Opening the FIFO for writing completes once pair's shell opened it for reading.
        await using var writer = new StreamWriter(await Task.Run(() => new FileStream(fifo, FileMode.Open, FileAccess.Write)));
        var pins = new List<string>();
        var deadline = DateTime.UtcNow + Step;
        while ((pins = agent.StandardOutputLines.Where(l => l.StartsWith("PIN: ", StringComparison.Ordinal)).ToList()).Count <= seen)
        {
            Assert.True(DateTime.UtcNow < deadline && !agent.HasExited, $"no new PIN from the agent. stderr:\n{agent.StandardError}");
            await Task.Delay(50);
        }
        string pin = pins[seen]["PIN: ".Length..];
        await writer.WriteLineAsync(transform(pin));
        await writer.FlushAsync();
        var result = await pair;
        output.WriteLine($"pair → {result.ExitCode}: {result.StandardOutput.Trim()} | {result.StandardError.Trim()}");
        return (result, pin);
    }

    [Fact]
    public async Task TwoNamespaces_PairChat100MegabyteFileAndReconnectWithoutPin()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];
        string name = "Garage Camera";
        string agentState = Path.Combine(_root, "agent"), clientState = Path.Combine(_root, "client"), stranger = Path.Combine(_root, "stranger");
        string inbox = Path.Combine(_root, "inbox");
        var agent = StartAgent(deviceHost, name, agentState, inbox);
        try
        {
            string hello = await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            output.WriteLine(hello);
            string fp = Field(hello, "fp"), id = Field(hello, "id");

            // Wrong PIN: fails, and the client's trust store is unchanged.
            string before = TrustSnapshot(clientState);
            var (wrong, shown) = await PairAsync(clientHost, agent, name, clientState, pin => pin[..^1] + (char)('0' + ((pin[^1] - '0' + 1) % 10)));
            Assert.NotEqual(0, wrong.ExitCode);
            Assert.Contains("ospbridge: authentication failed", wrong.StandardError, StringComparison.Ordinal);
            Assert.Equal(before, TrustSnapshot(clientState));
            await Task.Delay(TimeSpan.FromSeconds(2.5)); // the agent's back-off after one failure

            // Right PIN.
            var (right, pin2) = await PairAsync(clientHost, agent, name, clientState);
            Assert.True(right.ExitCode == 0, right.StandardError);
            Assert.NotEqual(shown, pin2);
            Assert.Equal($"paired {name} {id} {fp}", right.StandardOutput.Trim());

            // Chat echo.
            var chat = await OspBridgeCli.RunAsync(clientHost, Step, "chat", name, "--message", "ping over the LAN", "--interface", "eth0", "--state-dir", clientState);
            Assert.True(chat.ExitCode == 0, chat.StandardError);
            Assert.Equal("ping over the LAN", chat.StandardOutput.Trim());

            // 100 MB byte-exact.
            string file = Path.Combine(_root, "big.bin");
            var sha = WriteRandomFile(file, 100_000_000, seed: 10);
            var send = await OspBridgeCli.RunAsync(clientHost, TimeSpan.FromMinutes(5), "send", name, file, "--interface", "eth0", "--state-dir", clientState);
            output.WriteLine(send.StandardOutput + send.StandardError);
            Assert.True(send.ExitCode == 0, send.StandardError);
            Assert.Equal($"sent big.bin 100000000 {sha}", send.StandardOutput.Trim());
            string received = Path.Combine(inbox, "big.bin");
            Assert.Equal(100_000_000, new FileInfo(received).Length);
            Assert.Equal(sha, HashFile(received));

            // An unpaired client in the same namespace is refused.
            var refused = await OspBridgeCli.RunAsync(clientHost, Step, "chat", name, "--message", "hi", "--interface", "eth0", "--state-dir", stranger);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains($"ospbridge: not paired with {name}", refused.StandardError, StringComparison.Ordinal);

            // Restart both (the client is a fresh process per command anyway): no PIN.
            agent.Signal(15);
            Assert.True(await agent.WaitForExitAsync(Step));
            Assert.Equal(0, agent.ExitCode);
            Assert.Contains("stopped", agent.StandardOutputLines);
            await agent.DisposeAsync();
            agent = StartAgent(deviceHost, name, agentState, inbox);
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal) && l.Contains("fp=" + fp, StringComparison.Ordinal), Step);
            var again = await OspBridgeCli.RunAsync(clientHost, Step, "chat", id, "--message", "back again", "--interface", "eth0", "--state-dir", clientState);
            Assert.True(again.ExitCode == 0, again.StandardError);
            Assert.Equal("back again", again.StandardOutput.Trim());
            Assert.DoesNotContain(agent.StandardOutputLines, l => l.StartsWith("PIN: ", StringComparison.Ordinal));
        }
        finally
        {
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    private static string WriteRandomFile(string path, long size, int seed)
    {
        var rng = new Random(seed);
        var buffer = new byte[1 << 20];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var f = File.Create(path);
        for (long left = size; left > 0;)
        {
            int n = (int)Math.Min(left, buffer.Length);
            rng.NextBytes(buffer.AsSpan(0, n));
            hash.AppendData(buffer, 0, n);
            f.Write(buffer, 0, n);
            left -= n;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string HashFile(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
