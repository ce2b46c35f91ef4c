using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.Media.Writers;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Sources;

public class TestCameraTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Test_camera_gives_keyframes_every_half_second_and_files_ffprobe_reads()
    {
        _ = Tools.Ffmpeg;
        var logs = new List<string>();
        await using var hub = new MediaHub(MediaSource.Create("test", new MediaSourceOptions { LoggerFactory = Tools.Logs(logs) }));
        await using var sink = await hub.AddSinkAsync();
        string dir = Directory.CreateTempSubdirectory("ospb-media-").FullName;
        string h264 = Path.Combine(dir, "v.h264"), ogg = Path.Combine(dir, "a.ogg");
        var video = new AnnexBFileWriter(File.Create(h264));
        var audio = new OggOpusWriter(File.Create(ogg));
        var videoTimes = new List<TimeSpan>();
        var audioTimes = new List<TimeSpan>();
        int keyframes = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var f in sink.ReadAllAsync(cts.Token))
        {
            if (f.Codec == MediaCodec.H264)
            {
                if (await video.WriteAsync(f))
                    videoTimes.Add(f.Timestamp);
                keyframes += f.IsKeyframe ? 1 : 0;
            }
            else if (f.Codec == MediaCodec.Opus && await audio.WriteAsync(f.Data))
            {
                audioTimes.Add(f.Timestamp);
            }
            if (videoTimes.Count >= 100)
                break;
        }
        long written = video.Frames;
        long packets = audio.Packets;
        await video.DisposeAsync();
        await audio.DisposeAsync();
        output.WriteLine($"video {written} frames, {keyframes} keyframes, audio {packets} packets; info {hub.Source.Info}");
        Assert.Equal(100, written);
        Assert.InRange(keyframes, 6, 8); // one per 15 frames (a 0.5 s GOP: a PLI is answered within 0.5 s)
        Assert.Equal(640, hub.Source.Info.Width);
        Assert.Equal(360, hub.Source.Info.Height);
        Assert.StartsWith("42", hub.Source.Info.ProfileLevelId); // baseline
        for (int i = 1; i < videoTimes.Count; i++)
            Assert.InRange((videoTimes[i] - videoTimes[i - 1]).Ticks, (TimeSpan.TicksPerSecond / 30) - 1, (TimeSpan.TicksPerSecond / 30) + 1); // from the frame count
        Assert.True(packets > 50, $"{packets} Opus packets in ~3 s");
        for (int i = 1; i < audioTimes.Count; i++)
            Assert.Equal(TimeSpan.FromMilliseconds(20), audioTimes[i] - audioTimes[i - 1]);

        var (w, h, frames) = await Tools.ProbeVideoAsync(h264);
        Assert.Equal((640, 360), (w, h));
        Assert.InRange(frames, written * 95 / 100, written * 105 / 100);
        var (codec, channels, probed) = await Tools.ProbeAudioAsync(ogg);
        Assert.Equal("opus", codec);
        Assert.Equal(2, channels);
        Assert.InRange(probed, packets * 95 / 100, packets * 105 / 100);
        Directory.Delete(dir, true);
    }
}
