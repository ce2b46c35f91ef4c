using OspBridge.Bridge.Commands;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Tests;

/// <summary>
/// Issue 9 item 6: strings from the network reach the terminal escaped (ESC, BEL, C1, bidi overrides), while
/// <c>--json</c> keeps them exact; and item 4: the demo device's bound on peer connections.
/// </summary>
public sealed class TerminalEscapeTests
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private const string Evil = "Door\u001b]0;pwned\u0007\u001b[2J";

    [Theory]
    [InlineData(Evil, @"Door\e]0;pwned\a\e[2J")]
    [InlineData("Kitchen", "Kitchen")]
    [InlineData("Küche 📷", "Küche 📷")]
    [InlineData("a\\b", @"a\\b")]
    [InlineData("x\u009b31my", @"x\u009b31my")]                 // C1 CSI
    [InlineData("abc\u202egnp.exe", @"abc\u202egnp.exe")]      // right-to-left override
    [InlineData("tab\there\r\nnext\u007f", @"tab\there\r\nnext\x7f")]
    [InlineData("\u2066iso\u2069 \u200b", @"\u2066iso\u2069 \u200b")]
    public void Sanitize_ShowsControlsEscaped(string raw, string shown)
    {
        Assert.Equal(shown, TerminalText.Sanitize(raw));
    }

    [Fact]
    public void Sanitize_LoneSurrogate_IsEscaped() => Assert.Equal(@"lone \ud800 surrogate", TerminalText.Sanitize("lone " + (char)0xd800 + " surrogate"));

    [Fact]
    public void EscapeJson_KeepsValuesExact_AndLeavesNoRawControls()
    {
        string raw = "a\u009b\u202eb\u001b\u007f\"\\";
        string json = TerminalText.EscapeJson(JsonSerializer.Serialize(new { name = raw }, Relaxed));
        Assert.DoesNotContain(json, c => c < 0x20 || c is >= '\u007f' and <= '\u009f' or '\u202e');
        Assert.Equal(raw, JsonDocument.Parse(json).RootElement.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Discover_ShowsAnInstanceNameWithTerminalEscapes_Escaped_AndJsonExact()
    {
        // An agent on lo whose instance name carries an OSC title change, BEL and "clear screen".
        string unique = Guid.NewGuid().ToString("N")[..8];
        string instance = Evil + unique;
        using var identity = AgentIdentity.CreateEphemeral("evil-" + unique);
        await using var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
        var host = DnsName.Parse("evil-" + unique + ".local");
        await mdns.PublishHostAsync(host, IPAddress.Loopback);
        int pub = await mdns.PublishServiceAsync(new MdnsServiceRegistration(instance, OspDiscovery.ServiceType, host, 4433,
            new OspTxt(identity.Fingerprint, 1, identity.AuthToken, identity.SerialBase64Url).ToProperties()));
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10))) await mdns.WaitEstablishedAsync(pub, cts.Token);

        var (rc, table, stderr) = CliProcess.Run(TimeSpan.FromSeconds(60), "discover", "--interface", "lo", "--timeout", "3");
        Assert.True(rc == 0, stderr);
        // the table wraps the (now longer) name inside its 24-column cell: "Door\e]0;pwned\a\e[" / "2J<unique>"
        Assert.True(table.Contains(@"Door\e]0;pwned\a\e[", StringComparison.Ordinal) && table.Contains("2J" + unique, StringComparison.Ordinal), table);
        Assert.DoesNotContain('\u0007', table);
        Assert.DoesNotContain("\u001b]0;", table, StringComparison.Ordinal);

        var (rc2, json, stderr2) = CliProcess.Run(TimeSpan.FromSeconds(60), "discover", "--interface", "lo", "--timeout", "3", "--json");
        Assert.True(rc2 == 0, stderr2);
        Assert.DoesNotContain(json, c => c is '\u001b' or '\u0007');
        var names = json.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("name").GetString()).ToList();
        Assert.Contains(instance, names); // exact after JSON decoding
    }

    [Fact]
    public async Task WebRtcEcho_ShowsADataChannelLabelWithTerminalEscapes_Escaped()
    {
        using var child = CliProcess.Start("webrtc", "echo", "--interface", "lo", "--timeout", "40");
        var stderr = child.StandardError.ReadToEndAsync();
        try
        {
            await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
            var channel = pc.CreateDataChannel(Evil);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            var offer = await pc.CreateOfferAsync(cts.Token);
            await pc.SetLocalDescriptionAsync(offer, cts.Token);
            await pc.WaitForGatheringCompleteAsync(cts.Token);
            await child.StandardInput.WriteLineAsync(pc.LocalDescription!.ToJson());
            await child.StandardInput.FlushAsync();
            string? answer = await child.StandardOutput.ReadLineAsync(cts.Token);
            Assert.NotNull(answer);
            await pc.SetRemoteDescriptionAsync(RTCSessionDescription.Parse(answer, RTCSdpType.Answer), cts.Token);
            await channel.WaitOpenAsync(cts.Token);
            await channel.SendAsync("ping"u8.ToArray(), isText: true, cts.Token);
            var reply = await channel.ReceiveAsync(cts.Token);
            Assert.NotNull(reply);
            await channel.CloseAsync(cts.Token);
            await pc.CloseAsync(cts.Token);
            Assert.True(child.WaitForExit(TimeSpan.FromSeconds(30)), "webrtc echo did not exit after the channel closed");
        }
        finally
        {
            if (!child.HasExited) child.Kill(entireProcessTree: true);
        }
        string err = await stderr;
        Assert.Contains(@"channel 'Door\e]0;pwned\a\e[2J' open", err, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', err);
        Assert.DoesNotContain('\u0007', err);
    }

    [Fact]
    public async Task DemoDevice_AcceptsAtMostMaxDevicePeers()
    {
        var device = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Device"), DisplayName = "Device", RequireAuthentication = false };
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), device);
        var accept = listener.AcceptAsync();
        await using var client = await OspConnection.ConnectAsync(listener.LocalEndPoint, device.Identity.Hostname, device.Identity.Fingerprint,
            new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Controller"), DisplayName = "Controller", RequireAuthentication = false });
        await using var server = await accept.WaitAsync(TimeSpan.FromSeconds(30));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var serving = DemoCommand.ServeDeviceAsync(server, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, cts.Token);
        using var signaling = new OspBridge.Osp.Signaling.LanSignalingSession(client);
        var pcs = new List<RTCPeerConnection>();
        try
        {
            for (int i = 0; i < DemoCommand.MaxDevicePeers; i++)
            {
                var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
                pcs.Add(pc);
                pc.CreateDataChannel("c" + i);
                await OspBridge.Bridge.Signaling.LanSignaling.OfferAsync(signaling, pc, "demo", TimeSpan.FromSeconds(20), cts.Token);
            }
            var extra = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
            pcs.Add(extra);
            extra.CreateDataChannel("one too many");
            // the Bridge's offer helper reports the device's permanent-error rejection as a CLI error with its reason
            var refused = await Assert.ThrowsAsync<CliException>(() => OspBridge.Bridge.Signaling.LanSignaling.OfferAsync(signaling, extra, "demo", TimeSpan.FromSeconds(20), cts.Token));
            Assert.Contains($"at most {DemoCommand.MaxDevicePeers}", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var pc in pcs) await pc.DisposeAsync();
            await client.CloseAsync(OspConnection.NoErrorCode, CancellationToken.None);
            await serving.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }
}
