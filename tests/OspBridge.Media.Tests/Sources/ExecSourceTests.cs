using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Sources;

public class ExecSourceTests
{
    [Fact]
    public void Command_lines_split_without_a_shell()
    {
        Assert.Equal(["ffmpeg", "-i", "a b.mp4", "-vf", "drawtext=text='x y'", "$HOME", "a\"b"],
            CommandLine.Split("ffmpeg -i \"a b.mp4\"  -vf drawtext=text=\"'x y'\" $HOME a\\\"b"));
        Assert.Equal(["sh", "-c", "echo hi | cat"], CommandLine.Split("sh -c 'echo hi | cat'"));
        Assert.Throws<MediaException>(() => CommandLine.Split("a 'b"));
        Assert.Throws<MediaException>(() => MediaSource.Create("exec:   "));
        Assert.Throws<MediaException>(() => MediaSource.Create("http://camera/"));
    }

    [Fact]
    public async Task Exec_source_reads_annex_b_logs_stderr_and_restarts_the_command_with_backoff()
    {
        string ffmpeg = Tools.Ffmpeg;
        var logs = new List<string>();
        var options = new MediaSourceOptions { LoggerFactory = Tools.Logs(logs), InitialBackoff = TimeSpan.FromMilliseconds(200) };
        // 15 frames, then ffmpeg exits: the source restarts it. -loglevel info writes stderr lines to log.
        await using var source = (ExecSource)MediaSource.Create($"exec:{ffmpeg} -hide_banner -nostdin -loglevel info -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 15 -c:v libx264 -preset ultrafast -g 10 -bsf:v h264_mp4toannexb -f h264 pipe:1", options);
        var frames = new List<EncodedFrame>();
        var states = new List<MediaSourceState>();
        var done = new TaskCompletionSource();
        source.StateChanged += (_, e) => { lock (states) states.Add(e.State); };
        source.FrameReceived = f =>
        {
            lock (frames)
            {
                frames.Add(f with { Data = f.Data.ToArray() });
                if (frames.Count >= 40)
                    done.TrySetResult();
            }
        };
        await source.StartAsync(CancellationToken.None);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await source.StopAsync(CancellationToken.None);
        Assert.True(source.Starts >= 3, $"started {source.Starts} times");
        lock (states)
            Assert.Contains(MediaSourceState.Retrying, states);
        Assert.Equal(320, source.Info.Width);
        Assert.Equal(240, source.Info.Height);
        lock (frames)
        {
            Assert.True(frames[0].IsKeyframe);
            Assert.Contains(frames.Skip(15), f => f.IsKeyframe); // the restarted stream begins with a keyframe again
        }
        lock (logs)
        {
            Assert.Contains(logs, l => l.Contains("[ffmpeg]", StringComparison.Ordinal));
            Assert.Contains(logs, l => l.Contains("restarting", StringComparison.Ordinal));
        }
    }
}
