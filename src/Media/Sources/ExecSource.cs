using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>
/// <c>exec:&lt;command line&gt;</c>: runs the command (argv split by <see cref="CommandLine"/>, no shell) and reads an
/// H.264 Annex B elementary stream on its stdout (e.g. <c>exec:ffmpeg -i rtsp://… -c copy -f h264 pipe:1</c>).
/// stderr lines go to the log; the command is restarted with back-off 1, 2, 4 … 30 s when it exits; it is killed
/// on stop. Raw Annex B has no timing, so a frame's timestamp is its arrival time since the source started (from the
/// options' <see cref="TimeProvider"/>, monotonic).
/// </summary>
internal sealed class ExecSource : MediaSourceBase
{
    private readonly SupervisedProcess _process;
    private readonly H264StreamIngest _ingest;
    private readonly TimeProvider _time;
    private long _started;

    public ExecSource(string commandLine, MediaSourceOptions options)
    {
        var argv = CommandLine.Split(commandLine);
        if (argv.Count == 0)
            throw new MediaException(MediaError.UnsupportedSource, "exec: needs a command");
        _time = options.TimeProvider;
        var logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("OspBridge.Media.Exec");
        _ingest = new H264StreamIngest(() => _time.GetElapsedTime(_started), f => Deliver(f), OnParameterSets);
        _process = new SupervisedProcess(argv[0], argv.Skip(1).ToArray(), options, logger,
            onStart: () =>
            {
                SetState(MediaSourceState.Starting);
                _ingest.Reset();
            },
            onData: data => _ingest.Write(data),
            onExit: error => SetState(MediaSourceState.Retrying, error));
        UpdateInfo(i => i with { VideoCodec = MediaCodec.H264 });
    }

    /// <summary>Times the command was started (first start included).</summary>
    internal int Starts => _process.Starts;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _started = _time.GetTimestamp();
        SetState(MediaSourceState.Starting);
        _process.Start();
        return Task.CompletedTask;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _process.StopAsync().ConfigureAwait(false);
        SetState(MediaSourceState.Stopped);
    }

    private void OnParameterSets(H264SpsInfo sps, byte[] spsNal, byte[] ppsNal) =>
        UpdateInfo(i => i with { Width = sps.Width, Height = sps.Height, Sps = spsNal, Pps = ppsNal, ProfileLevelId = sps.ProfileLevelId });
}
