using System.Net;
using System.Net.Sockets;

namespace OspBridge.Testing.Http;

/// <summary>
/// A small HTTP/1.1 origin on 127.0.0.1 (<see cref="HttpListener"/>) behind the device agents of the gateway and
/// PeerFetch tests: <c>answer</c> sets status and headers on the response and returns the body; the loop writes it
/// with its length, aborts the response when the client went away, and ends with <see cref="StopAsync"/>.
/// </summary>
public sealed class TestHttpOrigin : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Task _serving;

    private TestHttpOrigin(HttpListener listener, int port, Func<HttpListenerRequest, HttpListenerResponse, Task<byte[]>> answer)
    {
        _listener = listener;
        Port = port;
        _serving = ServeAsync(answer);
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary><c>http://127.0.0.1:port</c> (no trailing slash: what <c>--http-origin</c> takes).</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Starts listening on a free port.</summary>
    public static TestHttpOrigin Start(Func<HttpListenerRequest, HttpListenerResponse, Task<byte[]>> answer)
    {
        for (int attempt = 0; ; attempt++)
        {
            int port = FreeTcpPort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return new TestHttpOrigin(listener, port, answer);
            }
            catch (HttpListenerException) when (attempt < 3)
            {
                listener.Close(); // another process took the port in between: pick another
            }
        }
    }

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreeTcpPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Stops answering (connections are refused from now on) and waits for the accept loop to end.</summary>
    public async Task StopAsync()
    {
        if (_listener.IsListening) _listener.Stop();
        await _serving.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _listener.Close();
    }

    private async Task ServeAsync(Func<HttpListenerRequest, HttpListenerResponse, Task<byte[]>> answer)
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync().ConfigureAwait(false); }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(async () =>
            {
                var res = ctx.Response;
                try
                {
                    byte[] body = await answer(ctx.Request, res).ConfigureAwait(false);
                    res.ContentLength64 = body.Length;
                    await res.OutputStream.WriteAsync(body).ConfigureAwait(false);
                    res.Close();
                }
                catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
                {
                    res.Abort();
                }
            });
        }
    }
}
