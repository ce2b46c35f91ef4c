using System.Net.NetworkInformation;

namespace OspBridge.Bridge.Tests.Pairing;

/// <summary>
/// Private instance names (issue 10, <c>agent --private</c>): an mDNS observer on the link never sees the agent's real
/// name — not in the agent's announcements and answers, nor in the queries of the clients that pair with it and
/// reconnect to it — while a paired peer learns it after authentication and reconnects by fingerprint without a PIN,
/// also after the agent restarted under a new random name.
/// </summary>
public sealed class PrivateAgentTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ospbridge-private-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string Dir(string name) => Path.Combine(_root, name);

    private static CliChild StartAgent(string name, string state, string receive) =>
        CliChild.Start("agent", "--name", name, "--private", "--accept-all", "--receive-dir", receive, "--interface", "lo", "--state-dir", state);

    private static Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(params string[] args) =>
        Task.Run(() => CliProcess.Run(Step, args));

    private static string Word(string line, string key) => line.Split(' ').Single(w => w.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..].Trim('\'');

    [Fact]
    public async Task ObserverNeverSeesTheRealName_PairedPeerLearnsItAfterAuth_ReconnectsByFingerprintAfterRestart()
    {
        string tag = Guid.NewGuid().ToString("N")[..8];
        string secret = "Secret Study " + tag;
        string agentState = Dir("agent"), clientState = Dir("client"), inbox = Dir("inbox");
        using var observer = MdnsObserver.Start();
        var agent = StartAgent(secret, agentState, inbox);
        try
        {
            var (hello, _) = await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            string instance1 = Word(hello, "instance"), agentId = Word(hello, "id"), agentFp = Word(hello, "fp");
            Assert.Matches("^private-[a-z2-7]{10}$", instance1);

            // An observer asking the link for every OSP agent is answered with the random name only.
            observer.QueryAllAgents();
            await observer.WaitForAsync(instance1, Step);

            // discover labels it by id, not by its meaningless random name, and knows nothing more before pairing.
            var seen = await DiscoverAsync(clientState, agentFp);
            Assert.True(seen.GetProperty("private").GetBoolean());
            Assert.Equal(agentId, seen.GetProperty("id").GetString());
            Assert.False(seen.TryGetProperty("trustedName", out _));

            // Pairing picks the unpaired private agent by its id (printed by the agent, or the fingerprint shown by
            // `discover`); after authentication the client has the real name.
            int from = agent.Lines.Count;
            await using (var pair = CliChild.Start("pair", agentId, "--interface", "lo", "--timeout", "30", "--state-dir", clientState))
            {
                var (pinLine, _) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step, from);
                await pair.WriteLineAsync(pinLine["PIN: ".Length..]);
                var (rc, stdout, stderr) = await pair.WaitForExitAsync(Step);
                Assert.True(rc == 0, stderr);
                Assert.Equal($"paired {secret} {agentId} {agentFp}", stdout.Trim());
            }
            var peers = await RunAsync("peers", "--json", "--state-dir", clientState);
            var row = JsonDocument.Parse(peers.StdOut.Trim()).RootElement;
            Assert.Equal(secret, row.GetProperty("name").GetString()); // the random name was never recorded as a name

            // After pairing, discover shows the name learnt after authentication (from our trust store, not the link).
            var seenPaired = await DiscoverAsync(clientState, agentFp);
            Assert.True(seenPaired.GetProperty("paired").GetBoolean());
            Assert.Equal(secret, seenPaired.GetProperty("trustedName").GetString());
            Assert.Matches("^private-[a-z2-7]{10}$", seenPaired.GetProperty("name").GetString());

            // chat by the real name: the trust store gives the fingerprint; discovery finds the agent by fingerprint.
            var chat = await RunAsync("chat", secret, "--message", "hello", "--interface", "lo", "--state-dir", clientState);
            Assert.True(chat.ExitCode == 0, chat.StdErr);
            Assert.Equal("hello", chat.StdOut.Trim());

            // Restart: a new random name (rotated per start), same key; reconnect without a PIN.
            agent.Terminate();
            Assert.Equal(0, (await agent.WaitForExitAsync(Step)).ExitCode);
            await agent.DisposeAsync();
            agent = StartAgent(secret, agentState, inbox);
            var (hello2, _) = await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            string instance2 = Word(hello2, "instance");
            Assert.Equal(agentFp, Word(hello2, "fp"));
            Assert.NotEqual(instance1, instance2);
            var again = await RunAsync("chat", secret, "--message", "still private?", "--interface", "lo", "--state-dir", clientState);
            Assert.True(again.ExitCode == 0, again.StdErr);
            Assert.Equal("still private?", again.StdOut.Trim());
            Assert.DoesNotContain(agent.Lines, l => l.StartsWith("PIN: ", StringComparison.Ordinal));
            observer.QueryAllAgents();
            await observer.WaitForAsync(instance2, Step);
        }
        finally
        {
            await agent.DisposeAsync();
        }

        // Nothing on the link carried the real name, in any form a DNS label or TXT string could take.
        string label = new(secret.Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '-').ToArray());
        foreach (string form in new[] { secret, label, tag })
        {
            Assert.True(observer.CountContaining(form) == 0,
                $"{observer.CountContaining(form)} of {observer.Packets} mDNS packets on lo contain '{form}'");
        }
        Assert.True(observer.Packets > 0, "the observer captured nothing");
    }

    /// <summary>A raw mDNS observer on <c>lo</c>: joins 224.0.0.251:5353 (shared port), records every datagram, can ask for all OSP agents.</summary>
    /// <summary><c>discover --json</c> on lo until the agent with <paramref name="fp"/> is listed (bounded: 5 tries).</summary>
    private static async Task<JsonElement> DiscoverAsync(string state, string fp)
    {
        string seen = "";
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var (rc, stdout, stderr) = await RunAsync("discover", "--json", "--interface", "lo", "--timeout", "3", "--state-dir", state);
            Assert.True(rc == 0, stderr);
            seen = stdout;
            foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var e = JsonDocument.Parse(line).RootElement;
                if (e.GetProperty("fp").GetString() == fp) return e.Clone();
            }
        }
        Assert.Fail($"discover never listed {fp}; last output: {seen}");
        return default;
    }

    private sealed class MdnsObserver : IDisposable
    {
        private const int MaxPackets = 50_000;
        private readonly Socket _socket;
        private readonly List<byte[]> _packets = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        private MdnsObserver(Socket socket)
        {
            _socket = socket;
            _loop = Task.Run(ReceiveLoopAsync);
        }

        public int Packets
        {
            get
            {
                lock (_packets) return _packets.Count;
            }
        }

        public static MdnsObserver Start()
        {
            int lo = NetworkInterface.GetAllNetworkInterfaces().Single(i => i.Name == "lo").GetIPProperties().GetIPv4Properties().Index;
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1)); // as our mDNS sockets do
            s.Bind(new IPEndPoint(IPAddress.Any, 5353));
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(IPAddress.Parse("224.0.0.251"), lo));
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, IPAddress.HostToNetworkOrder(lo));
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
            return new MdnsObserver(s);
        }

        /// <summary>Sends a PTR query for <c>_openscreen._udp.local</c> to the group (what any device on the LAN may do).</summary>
        public void QueryAllAgents()
        {
            var q = new List<byte> { 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 }; // id 0, flags 0, one question
            foreach (string l in new[] { "_openscreen", "_udp", "local" })
            {
                q.Add((byte)l.Length);
                q.AddRange(Encoding.ASCII.GetBytes(l));
            }
            q.AddRange(new byte[] { 0, 0, 12, 0, 1 }); // root, PTR, IN
            _socket.SendTo(q.ToArray(), new IPEndPoint(IPAddress.Parse("224.0.0.251"), 5353));
        }

        public async Task WaitForAsync(string text, TimeSpan limit)
        {
            for (int i = 0; i < limit.TotalMilliseconds / 100; i++)
            {
                if (CountContaining(text) > 0) return;
                if (i % 20 == 19) QueryAllAgents();
                await Task.Delay(100);
            }
            Assert.Fail($"no mDNS packet on lo contained '{text}' within {limit.TotalSeconds} s ({Packets} captured)");
        }

        public int CountContaining(string text)
        {
            // ASCII case-insensitive (DNS names are), and the exact UTF-8 bytes.
            byte[] exact = Encoding.UTF8.GetBytes(text), lower = Encoding.UTF8.GetBytes(text.ToLowerInvariant());
            lock (_packets)
            {
                return _packets.Count(p =>
                {
                    var folded = p.Select(b => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b).ToArray();
                    return p.AsSpan().IndexOf(exact) >= 0 || folded.AsSpan().IndexOf(lower) >= 0;
                });
            }
        }

        private async Task ReceiveLoopAsync()
        {
            var buffer = new byte[9000];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var r = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                    lock (_packets)
                    {
                        if (_packets.Count < MaxPackets) _packets.Add(buffer.AsSpan(0, r.ReceivedBytes).ToArray());
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    if (_stop.IsCancellationRequested) return;
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _socket.Dispose();
            try
            {
                _loop.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }
            _stop.Dispose();
        }
    }
}
