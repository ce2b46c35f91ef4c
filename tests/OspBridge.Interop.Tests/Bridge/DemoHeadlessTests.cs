using OspBridge.Interop.Tests.Mdns;
using OspBridge.Interop.Tests.WebRtc;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// The README's main command as CI runs it: <c>ospbridge demo --headless</c> inside a test-made network namespace
/// (Chromium gathers host addresses: here only the namespace's own veth), which starts the doorbell agent, the bridge
/// and Debian Chromium (fake camera + microphone) and exits 0 only when the browser paired by PIN, decoded ≥ 100
/// frames, got the doorbell's REST answer through the gateway and the doorbell counted talk-back audio.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed class DemoHeadlessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Demo_headless_tells_the_doorbell_story_end_to_end()
    {
        if (ChromiumHarness.WhyUnsupported() is { } why) throw new InvalidOperationException("demo --headless cannot run: " + why);
        await using var lan = await NetnsLan.CreateAsync(1);
        var host = lan.Hosts[0];
        var result = await OspBridgeCli.RunAsync(host, TimeSpan.FromSeconds(300), "demo", "--headless", "--port", "0", "--timeout", "240");
        output.WriteLine(result.StandardOutput);
        output.WriteLine("stderr: " + result.StandardError);
        Assert.False(result.TimedOut, "demo --headless did not exit within 300 s");
        Assert.True(result.ExitCode == 0, $"demo --headless exited {result.ExitCode}");
        string stdout = result.StandardOutput;
        Assert.Contains("ok   pair: paired with PIN", stdout, StringComparison.Ordinal);
        Assert.Matches(@"ok   video: (\d{3,}) frames decoded, \d+×\d+", stdout);
        Assert.Contains("ok   rest: GET /api/status → 200", stdout, StringComparison.Ordinal);
        Assert.Contains("\"device\":\"Front Door\"", stdout, StringComparison.Ordinal);
        Assert.Matches(@"talk-back \(WHIP → device\): talk-back from \S+: [1-9]\d* packets", stdout);
        Assert.Contains("all of it worked", stdout, StringComparison.Ordinal);
    }
}
