using System.Text;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// A client (the browser ES module does this for small bodies) may put a whole request — HEADERS, DATA and the
/// END_STREAM DATA — into the channel before the device starts serving the stream. The device must still hand the
/// buffered body to the application (it once saw "remote ended" and served the request without its body).
/// </summary>
public class WholeRequestInOneMessageTests
{
    [Fact]
    public async Task Body_that_arrived_complete_before_serving_is_forwarded()
    {
        await using var origin = await Origin.StartAsync();
        await using var link = Link.Memory();
        using var device = PeerFetchDevice.CreateProxy([new PeerFetchOrigin(origin.Uri)]);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serving = Task.Run(() => device.ServeAsync(link.Device, "peer-1", stop.Token));

        await link.Client.SendAsync(HelloFrame.Create(initiator: true, PeerFetchSettings.Default), isText: false, stop.Token);
        var hello = await link.Client.ReceiveAsync(stop.Token);
        Assert.True(FrameHeader.TryRead(hello!.Value.Data.Span, out var h) && h.Type == FrameType.Hello);

        var body = Encoding.UTF8.GetBytes("""{"posted":true,"é":"ü"}""");
        byte[] head = HeadersFrame.Create(1,
        [
            new(":method", "POST"), new(":path", "/echo"), new(":authority", "localhost"),
            new("content-type", "application/json"), new("content-length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ], endStream: false);
        byte[] message = [.. head, .. DataFrame.Create(1, body, endStream: false), .. DataFrame.Create(1, [], endStream: true)];
        await link.Client.SendAsync(message, isText: false, stop.Token);

        int? status = null;
        var received = new List<byte>();
        bool ended = false;
        while (!ended)
        {
            var m = await link.Client.ReceiveAsync(stop.Token);
            Assert.NotNull(m);
            var span = m.Value.Data.Span;
            for (int o = 0; o < span.Length;)
            {
                Assert.True(FrameHeader.TryRead(span[o..], out var f));
                var payload = span.Slice(o + FrameHeader.Size, f.Length);
                o += FrameHeader.Size + f.Length;
                if (f.StreamId != 1) continue;
                if (f.Type == FrameType.Headers && status is null)
                {
                    Assert.True(HeadersFrame.TryRead(f, payload, out var fields));
                    status = int.Parse(fields.Single(x => x.Key == ":status").Value, System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (f.Type == FrameType.Data) received.AddRange(payload.ToArray());
                else Assert.Fail($"unexpected {f.Type} on stream 1");
                ended |= (f.Flags & FrameFlags.EndStream) != 0;
            }
        }
        Assert.Equal(200, status);
        Assert.Equal(body, received.ToArray());
        await stop.CancelAsync();
        try { await serving.WaitAsync(TimeSpan.FromSeconds(10)); } catch (OperationCanceledException) { }
    }
}
