using Microsoft.Extensions.Logging;

namespace OspBridge.Media.Sources;

/// <summary>Options shared by every source kind.</summary>
public sealed class MediaSourceOptions
{
    /// <summary>Logs (child stderr lines, reconnects). Default: none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Time for back-off waits and keep-alives. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>First restart/reconnect delay; doubles up to <see cref="MaxBackoff"/>. Default 1 s.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest restart/reconnect delay. Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Test camera: picture width. Default 640.</summary>
    public int TestWidth { get; init; } = 640;

    /// <summary>Test camera: picture height. Default 360.</summary>
    public int TestHeight { get; init; } = 360;

    /// <summary>Test camera: frames per second. Default 30.</summary>
    public int TestFrameRate { get; init; } = 30;

    /// <summary>Test camera: H.264 bitrate in kbit/s (0: x264's default CRF). Default 0.</summary>
    public int TestBitrateKbps { get; init; }

    /// <summary>Test camera: include the Opus tone. Default true.</summary>
    public bool TestAudio { get; init; } = true;

    /// <summary>Test camera: include the video (false: the tone only, as <c>test:audio</c>). Default true.</summary>
    public bool TestVideo { get; init; } = true;

    /// <summary>Test camera: the tone's frequency in Hz (20–20000). Default 440.</summary>
    public int TestToneHz { get; init; } = 440;

    /// <summary>The ffmpeg executable for the test camera. Default "ffmpeg" (from PATH).</summary>
    public string FfmpegPath { get; init; } = "ffmpeg";

    /// <summary>
    /// RTSP: use TCP-interleaved transport (default) or UDP (false; falls back to TCP when the camera refuses UDP or no
    /// datagram arrives within <see cref="RtspUdpTimeout"/>). A URI's <c>?transport=udp|tcp</c> overrides this.
    /// </summary>
    public bool RtspUseTcp { get; init; } = true;

    /// <summary>RTSP over UDP: no RTP datagram for this long after PLAY → fall back to TCP-interleaved. Default 5 s.</summary>
    public TimeSpan RtspUdpTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>RTSP: time allowed for each request's response. Default 10 s.</summary>
    public TimeSpan RtspRequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>RTSP: no media for this long counts as a lost connection. Default 10 s.</summary>
    public TimeSpan RtspMediaTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
