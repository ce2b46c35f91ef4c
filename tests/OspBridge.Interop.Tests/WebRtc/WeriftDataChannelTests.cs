using OspBridge.Testing;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>
/// werift (npm, pure TypeScript; pinned in interop/package.json + lockfile) ↔ <c>ospbridge webrtc echo|offer</c>, each
/// in its own network namespace. werift is the tester (text + binary echo, byte-exact, then closes the channel);
/// our CLI must echo and exit 0 when the peer's channel closes.
/// </summary>
[Collection("Chromium WebRTC")]
public class WeriftDataChannelTests(ITestOutputHelper output)
{
    private static Process StartIn(NetnsHost host, string file, IEnumerable<string> args, string workDir)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workDir };
        foreach (var a in new[] { "netns", "exec", host.Namespace, file }.Concat(args)) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
    }

    [Theory]
    [InlineData("offer")]   // werift offers, ours answers (ospbridge webrtc echo)
    [InlineData("answer")]  // ours offers (ospbridge webrtc offer), werift answers
    public async Task Werift_echo(string weriftRole)
    {
        if (NetnsLan.WhyUnsupported() is { } why) throw new InvalidOperationException("werift interop cannot run: " + why);
        string interop = RepoPaths.Interop;
        if (!Directory.Exists(Path.Combine(interop, "node_modules", "werift")))
            throw new InvalidOperationException($"werift is not installed: run 'npm ci' in {interop}");
        string ours = Path.Combine(AppContext.BaseDirectory, "ospbridge.dll");
        Assert.True(File.Exists(ours), ours + " missing");
        await using var lan = await NetnsLan.CreateAsync(2);
        string dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        using var werift = StartIn(lan.Hosts[0], "node", ["werift-peer.mjs", weriftRole], interop);
        using var our = StartIn(lan.Hosts[1], dotnet, [ours, "webrtc", weriftRole == "offer" ? "echo" : "offer", "--interface", "eth0", "--timeout", "60", "-v"], interop);
        var werr = werift.StandardError.ReadToEndAsync();
        var oerr = our.StandardError.ReadToEndAsync();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var (first, second) = weriftRole == "offer" ? (werift, our) : (our, werift);
            string? description = await first.StandardOutput.ReadLineAsync(cts.Token);
            Assert.NotNull(description);
            await second.StandardInput.WriteLineAsync(description);
            await second.StandardInput.FlushAsync();
            string? reply = await second.StandardOutput.ReadLineAsync(cts.Token);
            Assert.NotNull(reply);
            await first.StandardInput.WriteLineAsync(reply);
            await first.StandardInput.FlushAsync();
            string? verdict = await werift.StandardOutput.ReadLineAsync(cts.Token);
            Assert.Equal("WERIFT OK", verdict);
            await werift.WaitForExitAsync(cts.Token);
            Assert.Equal(0, werift.ExitCode);
            await our.WaitForExitAsync(cts.Token);
            Assert.Equal(0, our.ExitCode); // our CLI exits 0 when the peer closed its channel
        }
        finally
        {
            foreach (var proc in new[] { werift, our }) if (!proc.HasExited) proc.Kill(entireProcessTree: true);
            output.WriteLine("--- werift stderr\n" + await werr);
            output.WriteLine("--- ospbridge stderr\n" + await oerr);
        }
    }
}
