using System.Text.RegularExpressions;
using OspBridge.Bridge.Camera;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Camera;

/// <summary>
/// What the in-process talk-back tests share: a temporary folder, one log of every peer and the camera (its last lines
/// go to the test output on dispose), the agent's printed lines, the controller ↔ device offer/answer through
/// <see cref="CameraService.AttachAsync"/>, and the waits for delivery and for the agent's per-session talk-back line.
/// </summary>
internal sealed partial class TalkBackRig(ITestOutputHelper output, string folderPrefix, int logLinesShown) : IDisposable
{
    /// <summary>Our WebRTC peers on 127.0.0.1 only.</summary>
    public static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };

    private readonly List<string> _log = [];
    private readonly List<string> _lines = [];

    /// <summary>A fresh folder, deleted on dispose.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory(folderPrefix).FullName;

    public void Dispose()
    {
        lock (_log) foreach (var l in _log.TakeLast(logLinesShown)) output.WriteLine(l);
        try { Directory.Delete(Folder, true); } catch (IOException) { }
    }

    [GeneratedRegex(@"^talk-back from (\S+): (\d+) packets, (\d+\.\d) s audio$")]
    private static partial Regex TalkLine();

    /// <summary>A logger into the shared log, its lines prefixed.</summary>
    public LineLogger Logger(string prefix) => new(s => { lock (_log) _log.Add(s); }, prefix);

    /// <summary>Collects what the agent prints (pass as <see cref="CameraService"/>'s <c>output</c>).</summary>
    public void Output(string line)
    {
        lock (_lines) _lines.Add(line);
    }

    /// <summary>True when a logged line contains <paramref name="text"/>.</summary>
    public bool Logged(string text)
    {
        lock (_log) return _log.Any(l => l.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Our controller's offer → the device's answer with the camera attached as <paramref name="peerId"/>.</summary>
    public static async Task<(RTCPeerConnection Device, CameraMedia Media)> AnswerAsync(CameraService camera, RTCPeerConnection controller,
        RTCPeerConnectionOptions options, string peerId = "controller-1")
    {
        await controller.SetLocalDescriptionAsync(await controller.CreateOfferAsync());
        await controller.WaitForGatheringCompleteAsync();
        var device = new RTCPeerConnection(Loopback, options);
        await device.SetRemoteDescriptionAsync(controller.LocalDescription!);
        var media = await camera.AttachAsync(device, peerId, controller.LocalDescription!.Sdp, CancellationToken.None);
        await device.SetLocalDescriptionAsync(await device.CreateAnswerAsync());
        await device.WaitForGatheringCompleteAsync();
        await controller.SetRemoteDescriptionAsync(device.LocalDescription!);
        return (device, media);
    }

    /// <summary>
    /// Waits (at most 10 s) until the controller's sender has put every written talk-back frame on the wire and the
    /// device's receiver has accepted as many, instead of a fixed sleep (a loaded machine once lost the last 14 of 230
    /// packets to the controller's close). Returns both counters for the test output; the assertions judge them.
    /// </summary>
    public static async Task<string> WaitForDeliveryAsync(RTCRtpTransceiver sender, RTCRtpTransceiver receiver, long written)
    {
        long onWire = 0, accepted = 0;
        for (int i = 0; i < 100; i++)
        {
            onWire = (await sender.GetStatsAsync()).Stats.PacketsSent;
            accepted = (await receiver.GetStatsAsync()).Stats.PacketsReceived;
            if (onWire >= written && accepted >= onWire) break;
            await Task.Delay(100);
        }
        return $"controller put {onWire} on the wire, device accepted {accepted}";
    }

    /// <summary>
    /// The agent's "talk-back from &lt;peer&gt;: &lt;n&gt; packets, &lt;s&gt; s audio" line (at most 10 s; the device is
    /// disposed after 5 s in case the controller's close did not end the session). Fails with what the agent printed.
    /// </summary>
    public async Task<Match> WaitForTalkLineAsync(RTCPeerConnection device)
    {
        for (int i = 0; i < 200; i++)
        {
            lock (_lines)
            {
                var m = _lines.Select(l => TalkLine().Match(l)).FirstOrDefault(m => m.Success);
                if (m is not null) return m;
            }
            if (i == 100) await device.DisposeAsync(); // the controller's close_notify should have ended it by now; the agent closes on session end too
            await Task.Delay(50);
        }
        lock (_lines) Assert.Fail("no talk-back line; agent printed:\n" + string.Join('\n', _lines));
        return null!;
    }
}
