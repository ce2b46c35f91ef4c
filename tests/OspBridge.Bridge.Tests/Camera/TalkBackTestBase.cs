using OspBridge.Bridge.Camera;
using OspBridge.Media.Sources;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Camera;

/// <summary>
/// The shell the talk-back test classes share: the tone they send, our peers on 127.0.0.1, one
/// <see cref="TalkBackRig"/> per test (folder and log, shown on dispose) and loggers into it.
/// </summary>
public abstract class TalkBackTestBase : IDisposable
{
    /// <summary>The frequency of <c>test:audio</c>'s tone the tests send and look for.</summary>
    protected const int ToneHz = 660;

    /// <summary>Our WebRTC peers on 127.0.0.1 only.</summary>
    protected static readonly RTCConfiguration Loopback = TalkBackRig.Loopback;

    private protected TalkBackTestBase(ITestOutputHelper output, string folderPrefix, int logLinesShown)
    {
        Output = output;
        Rig = new TalkBackRig(output, folderPrefix, logLinesShown);
    }

    /// <summary>The test's output.</summary>
    protected ITestOutputHelper Output { get; }

    private protected TalkBackRig Rig { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Shows the rig's last log lines and deletes its folder.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
            Rig.Dispose();
    }

    private protected LineLogger Logger(string prefix) => Rig.Logger(prefix);

    /// <summary>The answer has one talk-back lane: the controller sends on it, the device receives.</summary>
    private protected static void AssertOneTalkBackLane(RTCRtpTransceiver talk, CameraMedia media)
    {
        Assert.Single(media.TalkBack);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, talk.CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, media.TalkBack[0].Transceiver.CurrentDirection);
    }

    /// <summary>
    /// Feeds MediaSource <c>test:audio</c> (the tone, real time) into <paramref name="talk"/>'s sender until
    /// <paramref name="packets"/> Opus frames were accepted or <paramref name="cancellationToken"/> fires; returns how
    /// many were accepted.
    /// </summary>
    private protected static async Task<long> SendToneAsync(RTCRtpTransceiver talk, long packets, CancellationToken cancellationToken)
    {
        await using var tone = MediaSource.Create("test:audio", new MediaSourceOptions { TestToneHz = ToneHz });
        long sent = 0;
        tone.FrameReceived = f =>
        {
            if (f.Codec == MediaCodec.Opus && talk.Sender.WriteFrame(f)) Interlocked.Increment(ref sent);
        };
        await tone.StartAsync(CancellationToken.None);
        while (Interlocked.Read(ref sent) < packets && !cancellationToken.IsCancellationRequested)
            await Task.Delay(100, CancellationToken.None);
        await tone.StopAsync(CancellationToken.None);
        return Interlocked.Read(ref sent);
    }
}
