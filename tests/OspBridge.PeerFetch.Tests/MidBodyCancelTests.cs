using System.Net;

namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// A client that cancels while the response body streams must stop the device's read of the application's body at
/// once — not when the application next produces bytes (the origin would otherwise hold its request open).
/// </summary>
public class MidBodyCancelTests
{
    /// <summary>A response body that yields one chunk, then blocks until its read is cancelled (at most 30 s).</summary>
    private sealed class HoldingStream(TaskCompletionSource cancelled) : Stream
    {
        private bool _first = true;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_first)
            {
                _first = false;
                buffer.Span.Fill(7);
                return buffer.Length;
            }
            try { await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken); }
            catch (OperationCanceledException) { cancelled.TrySetResult(); throw; }
            return 0;
        }
    }

    private sealed class App(TaskCompletionSource cancelled) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new HoldingStream(cancelled)) });
    }

    [Fact]
    public async Task Client_cancel_mid_body_cancels_the_application_read()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var link = Link.Memory();
        using var device = new PeerFetchDevice(new App(cancelled));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serving = Task.Run(() => device.ServeAsync(link.Device, "peer-1", stop.Token));
        using var http = new HttpClient(new PeerFetchHandler(link.Client)) { BaseAddress = new Uri("http://localhost/") };
        var response = await http.GetAsync("/hold", HttpCompletionOption.ResponseHeadersRead, stop.Token);
        var body = await response.Content.ReadAsStreamAsync(stop.Token);
        var buffer = new byte[1024];
        Assert.True(await body.ReadAsync(buffer, stop.Token) > 0);
        response.Dispose(); // unread body → RESET CANCEL
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 100 && device.ActiveRequests("peer-1") > 0; i++) await Task.Delay(50);
        Assert.Equal(0, device.ActiveRequests("peer-1"));
        await stop.CancelAsync();
        try { await serving.WaitAsync(TimeSpan.FromSeconds(10)); } catch (OperationCanceledException) { }
    }
}
