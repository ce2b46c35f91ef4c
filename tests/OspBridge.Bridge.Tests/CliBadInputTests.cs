using System.CommandLine;

namespace OspBridge.Bridge.Tests;

/// <summary>
/// Issue 9 item 5: bad input to every command of the built CLI (a child process, bounded time) is one stderr line
/// <c>ospbridge: …</c> naming the bad thing, a non-zero exit code, and never a stack trace or an abort. The commands
/// come from the CLI itself, so a new command is fed the generic cases (unknown option, extra argument, a file as
/// --state-dir) and the bad values of every option it shares with the table (--timeout, --port, --interface…).
/// </summary>
public sealed class CliBadInputTests : IClassFixture<CliBadInputTests.Files>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Files _files;

    public CliBadInputTests(Files files) => _files = files;

    /// <summary>Paths and sockets the cases refer to by placeholder.</summary>
    public sealed class Files : IDisposable
    {
        public Files()
        {
            Directory.CreateDirectory(Root);
            File.WriteAllText(RegularFile, "not a directory");
            // an identity whose agent.json counter is at 2^32 - 1 and whose certificate must be reissued
            Assert.Equal(0, CliProcess.Run(Timeout, "identity", "--state-dir", CounterAtMax).ExitCode);
            string json = Path.Combine(CounterAtMax, "agent.json");
            File.WriteAllText(json, System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(json), "\"counter\": *[0-9]+", "\"counter\": 4294967295"));
            Directory.CreateDirectory(Truncated);
            File.WriteAllText(Path.Combine(Truncated, "agent.json"), "{\"version\":1,");
            PortInUse.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }

        public string Root { get; } = Path.Combine(Path.GetTempPath(), "ospbridge-badinput-" + Guid.NewGuid().ToString("N"));
        public string RegularFile => Path.Combine(Root, "file");
        public string CounterAtMax => Path.Combine(Root, "counter-max");
        public string Truncated => Path.Combine(Root, "truncated");
        public Socket PortInUse { get; } = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        public string Expand(string arg) => arg
            .Replace("{file}", RegularFile, StringComparison.Ordinal)
            .Replace("{counter-max}", CounterAtMax, StringComparison.Ordinal)
            .Replace("{truncated}", Truncated, StringComparison.Ordinal)
            .Replace("{port-in-use}", ((IPEndPoint)PortInUse.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

        public void Dispose()
        {
            PortInUse.Dispose();
            Directory.Delete(Root, recursive: true);
        }
    }

    /// <summary>Leaf commands (with an action) of the CLI, as argument paths.</summary>
    internal static List<(string[] Path, Command Command)> Leaves()
    {
        using var context = new CliContext();
        var list = new List<(string[], Command)>();
        void Walk(Command c, string[] path)
        {
            if (c.Subcommands.Count == 0) list.Add((path, c));
            foreach (var s in c.Subcommands) Walk(s, [.. path, s.Name]);
        }
        Walk(Program.BuildRoot(context), []);
        return list;
    }

    /// <summary>Bad values per option name: applied to every command that has the option.</summary>
    private static readonly (string Option, string[] Values, string? Needle)[] OptionTable =
    [
        ("--timeout", ["-1"], "--timeout"),
        ("--timeout", ["abc"], "abc"),
        ("--port", ["70000"], "--port"),
        ("--port", ["-5"], "--port"),
        ("--address", ["1.2.3"], "1.2.3"),
        ("--address", ["8.8.8.8"], "8.8.8.8"),
        ("--interface", ["no-such-if0"], "no-such-if0"),
        ("--name", [""], "--name"),
        ("--dir", ["/nonexistent-ospbridge-dir"], "/nonexistent-ospbridge-dir"),
        ("--cert", ["/nonexistent-cert.pem", "--key", "/nonexistent-key.pem"], "/nonexistent-cert.pem"),
        ("--cert", ["{file}"], "--key"),
        ("--data", ["/nonexistent-ospbridge-data"], "/nonexistent-ospbridge-data"),
        ("--output", ["/nonexistent-ospbridge-dir/out"], "/nonexistent-ospbridge-dir"),
        ("--messages", ["0"], "--messages"),
        ("--megabytes", ["-1"], "--megabytes"),
        ("--ttl", ["0"], "--ttl"),
        ("--relay", ["sometimes"], "sometimes"),
        ("--relay-port", ["70000"], "--relay-port"),
    ];

    private static readonly string HugeSdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + string.Concat(Enumerable.Repeat("a=x:" + new string('y', 1000) + "\r\n", 300));

    /// <summary>Descriptions for <c>webrtc echo</c> (an offer) and <c>webrtc offer</c> (an answer) on stdin.</summary>
    private static IEnumerable<(string Name, string Stdin, string Needle)> Descriptions(string type) =>
    [
        ("not JSON", "{this is not json}\n", "JSON"),
        ("truncated JSON", "{\"type\":\"" + type + "\",\"sdp\":\n", "JSON"),
        ("type 5", "{\"type\":5,\"sdp\":\"v=0\"}\n", "\"type\""),
        ("sdp null", "{\"type\":\"" + type + "\",\"sdp\":null}\n", "\"sdp\""),
        ("sdp number", "{\"type\":\"" + type + "\",\"sdp\":7}\n", "\"sdp\""),
        ("missing sdp", "{\"type\":\"" + type + "\"}\n", "\"sdp\""),
        ("array", "[1,2]\n", "object"),
        ("5000 nested braces", new string('{', 5000) + "\n", "JSON"),
        ("5000 nested arrays", new string('[', 5000) + new string(']', 5000) + "\n", "JSON"),
        ("wrong type", "{\"type\":\"" + (type == "offer" ? "answer" : "offer") + "\",\"sdp\":\"v=0\"}\n", "\"type\""),
        ("SDP over 256 KiB", HugeSdp + "\n", "KiB"),
        ("SDP over 256 KiB in JSON", "{\"type\":\"" + type + "\",\"sdp\":\"" + HugeSdp.Replace("\r\n", "\\r\\n", StringComparison.Ordinal) + "\"}\n", "KiB"),
        ("one endless line", new string('x', 300 * 1024), "KiB"),
        ("garbage SDP", "hello world\n", "SDP"),
        ("binary junk", "\u0001\u0002\u001b[2J\u0007\n", "SDP"),
        ("empty stdin", "", type),
    ];

    public static IEnumerable<object[]> Cases()
    {
        foreach (var (path, command) in Leaves())
        {
            string name = path.Length == 0 ? "(root)" : string.Join(' ', path);
            // arguments that make the command's required parts valid, so the bad part is what fails
            string[] required = name switch
            {
                "advertise" => ["--name", "Bad Input Test", "--interface", "lo"],
                "resolve" => ["badinput-test.local"],
                "h3 get" => ["https://127.0.0.1:9/"],
                "fetch" => ["badinput-peer", "/"],
                "agent" => ["--name", "Bad Input Test", "--interface", "lo"],
                "chat" => ["badinput-peer", "--message", "hi"],
                "send" => ["badinput-peer", "{file}"],
                "pair" or "peers revoke" or "view" => ["badinput-peer"],
                "webrtc camera" => ["--source", "test"],
                _ => [],
            };
            yield return [name + ": unknown option", (string[])[.. path, .. required, "--no-such-option"], "", "--no-such-option"];
            if (command.Arguments.Count == 0)
                yield return [name + ": extra argument", (string[])[.. path, .. required, "bogus-extra-argument"], "", "bogus-extra-argument"];
            yield return [name + ": --state-dir is a file", (string[])[.. path, .. required, "--state-dir", "{file}"], "", "--state-dir"];
            foreach (var (option, values, needle) in OptionTable)
            {
                if (!command.Options.Any(o => o.Name == option)) continue;
                yield return [$"{name}: {option} {string.Join(' ', values)}", (string[])[.. path, .. required.Where((_, i) => !IsOverridden(required, i, option)), option, .. values], "", needle!];
            }
        }
        // command groups and the root
        yield return ["unknown command", (string[])["no-such-command"], "", "no-such-command"];
        yield return ["no command", Array.Empty<string>(), "", "command"];
        foreach (var group in new[] { "h3", "webrtc" })
        {
            yield return [group + ": unknown sub-command", (string[])[group, "no-such-sub"], "", "no-such-sub"];
            yield return [group + ": no sub-command", (string[])[group], "", group];
        }
        // webrtc: session descriptions on stdin
        foreach (var (sub, type) in new[] { ("echo", "offer"), ("offer", "answer") })
            foreach (var (what, stdin, needle) in Descriptions(type))
                yield return [$"webrtc {sub}: {what}", (string[])["webrtc", sub, "--interface", "lo", "--timeout", "30"], stdin, needle];
        foreach (var (what, stdin, needle) in Descriptions("offer"))
            yield return [$"webrtc camera: {what}", (string[])["webrtc", "camera", "--source", "test", "--interface", "lo", "--timeout", "30"], stdin, needle];
        yield return ["webrtc camera: unknown source", (string[])["webrtc", "camera", "--source", "rtsp-nope"], "", "rtsp-nope"];
        // h3
        yield return ["h3 serve: port in use", (string[])["h3", "serve", "--port", "{port-in-use}"], "", "already in use"];
        yield return ["h3 get: not a URL", (string[])["h3", "get", "not a url"], "", "not a url"];
        yield return ["h3 get: http URL", (string[])["h3", "get", "http://127.0.0.1/"], "", "http://127.0.0.1/"];
        yield return ["h3 get: unresolvable host", (string[])["h3", "get", "https://nonexistent.invalid/"], "", "nonexistent.invalid"];
        // state on disk
        yield return ["identity: agent.json counter at 4294967295", (string[])["identity", "--state-dir", "{counter-max}", "--name", "Renamed"], "", "counter"];
        yield return ["advertise: agent.json counter at 4294967295", (string[])["advertise", "--state-dir", "{counter-max}", "--name", "Renamed", "--interface", "lo"], "", "counter"];
        yield return ["identity: truncated agent.json", (string[])["identity", "--state-dir", "{truncated}"], "", "agent.json"];
        yield return ["advertise: truncated agent.json", (string[])["advertise", "--state-dir", "{truncated}", "--name", "x", "--interface", "lo"], "", "agent.json"];
        // other commands' validation
        yield return ["resolve: not .local", (string[])["resolve", "example.com"], "", ".local"];
        yield return ["discover: --timeout 0", (string[])["discover", "--timeout", "0"], "", "--timeout"];
        // fetch and the agent's PeerFetch options
        yield return ["fetch: -H without a colon", (string[])["fetch", "badinput-peer", "/", "-H", "nocolon"], "", "nocolon"];
        yield return ["fetch: -d @missing file", (string[])["fetch", "badinput-peer", "/", "-d", "@/nonexistent-ospbridge-data"], "", "/nonexistent-ospbridge-data"];
        yield return ["fetch: --transport bogus", (string[])["fetch", "badinput-peer", "/", "--transport", "bogus"], "", "bogus"];
        yield return ["fetch: --parallel 0", (string[])["fetch", "badinput-peer", "/", "--parallel", "0"], "", "--parallel"];
        yield return ["fetch: --parallel 257", (string[])["fetch", "badinput-peer", "/", "--parallel", "257"], "", "--parallel"];
        yield return ["fetch: relative path", (string[])["fetch", "badinput-peer", "api/status"], "", "api/status"];
        yield return ["fetch: -X with a space", (string[])["fetch", "badinput-peer", "/", "-X", "GET X"], "", "-X"];
        yield return ["agent: --http-origin ftp", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--http-origin", "ftp://127.0.0.1/"], "", "--http-origin"];
        // camera, talk-back and viewer caps
        yield return ["agent: --max-viewers 0", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--camera", "test", "--max-viewers", "0"], "", "--max-viewers"];
        yield return ["agent: --max-viewers 5000", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--camera", "test", "--max-viewers", "5000"], "", "--max-viewers"];
        yield return ["agent: --talk-sink without --camera", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--talk-sink", "/tmp/x.ogg"], "", "--talk-sink"];
        yield return ["agent: empty --talk-sink", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--camera", "test", "--talk-sink", " "], "", "--talk-sink"];
        yield return ["agent: --talk-sink exec: without a command", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--camera", "test", "--talk-sink", "exec:"], "", "exec:"];
        yield return ["view: --talk missing file", (string[])["view", "badinput-peer", "--talk", "/nonexistent-ospbridge-talk.ogg"], "", "/nonexistent-ospbridge-talk.ogg"];
        yield return ["view: --talk unknown source", (string[])["view", "badinput-peer", "--talk", "bogus-talk-source"], "", "bogus-talk-source"];
        yield return ["webrtc camera: empty --talk-sink", (string[])["webrtc", "camera", "--source", "test", "--talk-sink", ""], "", "--talk-sink"];
        yield return ["demo: --headless with --transport", (string[])["demo", "--transport", "--headless"], "", "--headless"];
        yield return ["demo: --headless without Chromium", (string[])["demo", "--headless", "--browser", "/nonexistent-ospbridge-chromium"], "", "--browser"];
        yield return ["demo: --timeout 5", (string[])["demo", "--timeout", "5"], "", "--timeout"];
        yield return ["agent: --http-allow without --http-origin", (string[])["agent", "--name", "Bad Input Test", "--interface", "lo", "--http-allow", "/api"], "", "--http-allow"];
    }

    private static bool IsOverridden(string[] required, int i, string option) =>
        (required[i] == option) || (i > 0 && required[i - 1] == option);

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadInput_IsOneErrorLine_NonZeroExit_NoStackTrace(string name, string[] args, string stdin, string needle)
    {
        var expanded = args.Select(_files.Expand).ToArray();
        var (rc, _, stderr) = CliProcess.RunWithInput(Timeout, stdin, expanded);
        string context = $"{name}: exit {rc}\nstderr:\n{stderr}";
        Assert.True(rc != 0, context);
        Assert.True(rc != 134, "SIGABRT: " + context);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, "expected exactly one stderr line — " + context);
        Assert.StartsWith("ospbridge: ", lines[0], StringComparison.Ordinal);
        Assert.True(lines[0].Contains(_files.Expand(needle), StringComparison.Ordinal), $"the message should name '{needle}' — {context}");
        Assert.DoesNotContain("(Parameter '", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', lines[0]);
    }

    [Fact]
    public void EveryCommand_IsFedBadInput()
    {
        var cases = Cases().Select(c => (string)c[0]).ToList();
        foreach (var (path, _) in Leaves())
        {
            string name = path.Length == 0 ? "(root)" : string.Join(' ', path);
            Assert.True(cases.Count(c => c.StartsWith(name + ":", StringComparison.Ordinal)) >= 2, $"{name} has fewer than two bad-input cases");
        }
    }
}
