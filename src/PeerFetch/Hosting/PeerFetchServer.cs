using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace OspBridge.PeerFetch.Hosting;

/// <summary>
/// An ASP.NET Core <see cref="IServer"/> with no listener: the app's endpoints answer PeerFetch requests in process.
/// Register it (<c>builder.Services.AddSingleton&lt;IServer, PeerFetchServer&gt;()</c>), start the app, then serve
/// channels with <see cref="CreateDevice"/> (a <see cref="PeerFetchDevice"/> over <see cref="Handler"/>).
/// </summary>
public sealed class PeerFetchServer : IServer
{
    private HttpMessageHandler? _handler;

    /// <summary>Server features (an empty address list: nothing listens).</summary>
    public IFeatureCollection Features { get; } = CreateFeatures();

    private static FeatureCollection CreateFeatures()
    {
        var f = new FeatureCollection();
        f.Set<IServerAddressesFeature>(new ServerAddressesFeature()); // ASP.NET Core's own (Microsoft.AspNetCore.Hosting.Server.Features)
        return f;
    }

    /// <summary>The running application as an <see cref="HttpMessageHandler"/> (after the host started).</summary>
    public HttpMessageHandler Handler => _handler ?? throw new InvalidOperationException("the PeerFetch server is not started");

    /// <summary>A device serving the application over PeerFetch channels.</summary>
    public PeerFetchDevice CreateDevice(PeerFetchDeviceOptions? options = null) => new(Handler, options, disposeApplication: false);

    /// <inheritdoc/>
    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
    {
        _handler = new ApplicationHandler<TContext>(application);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _handler = null;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public void Dispose() => _handler = null;
}

/// <summary>Runs one request through an <see cref="IHttpApplication{TContext}"/>; the response body streams through a pipe.</summary>
internal sealed class ApplicationHandler<TContext>(IHttpApplication<TContext> application) : HttpMessageHandler where TContext : notnull
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        var requestFeature = new HttpRequestFeature
        {
            Protocol = "HTTP/1.1",
            Scheme = "http",
            Method = request.Method.Method,
            PathBase = "",
            Path = Uri.UnescapeDataString(uri.AbsolutePath),
            QueryString = uri.Query,
            RawTarget = uri.PathAndQuery,
            Body = request.Content is null ? Stream.Null : await request.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false),
        };
        requestFeature.Headers["Host"] = uri.Authority;
        foreach (var h in request.Headers) requestFeature.Headers[h.Key] = new StringValues(h.Value.ToArray());
        if (request.Content is not null) foreach (var h in request.Content.Headers) requestFeature.Headers[h.Key] = new StringValues(h.Value.ToArray());

        var response = new ResponseState(cancellationToken);
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(requestFeature);
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(response);
        features.Set<IHttpRequestLifetimeFeature>(response);
        features.Set<IHttpResponseTrailersFeature>(response);
        var context = application.CreateContext(features);
        _ = Task.Run(async () =>
        {
            Exception? error = null;
            try
            {
                await application.ProcessRequestAsync(context).ConfigureAwait(false);
                await response.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                error = ex;
                response.Fail(ex);
            }
            finally
            {
                await response.FireCompletedAsync().ConfigureAwait(false);
                application.DisposeContext(context, error);
            }
        }, CancellationToken.None);
        await response.Started.WaitAsync(cancellationToken).ConfigureAwait(false);
        var message = new HttpResponseMessage((HttpStatusCode)response.StatusCode) { RequestMessage = request, Content = new StreamContent(response.Reader.AsStream()) };
        foreach (var h in response.Headers)
            if (!message.Headers.TryAddWithoutValidation(h.Key, (IEnumerable<string?>)h.Value))
                message.Content.Headers.TryAddWithoutValidation(h.Key, (IEnumerable<string?>)h.Value);
        response.AttachTrailers(message.TrailingHeaders);
        return message;
    }

    /// <summary>Response, body, lifetime and trailers features of one request.</summary>
#pragma warning disable CA1001 // the body stream holds no resources (it writes into the pipe)
    private sealed class ResponseState : IHttpResponseFeature, IHttpResponseBodyFeature, IHttpRequestLifetimeFeature, IHttpResponseTrailersFeature
    {
#pragma warning restore CA1001
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 << 10, useSynchronizationContext: false));
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<(Func<object, Task> Callback, object State)> _onStarting = [];
        private readonly List<(Func<object, Task> Callback, object State)> _onCompleted = [];
        private readonly CancellationTokenSource _aborted;
        private readonly BodyStream _stream;

        public ResponseState(CancellationToken requestAborted)
        {
            _aborted = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
            RequestAborted = _aborted.Token;
            _stream = new BodyStream(this);
        }

        public Task Started => _started.Task;
        public PipeReader Reader => _pipe.Reader;
        private System.Net.Http.Headers.HttpResponseHeaders? _trailersTarget;
        private bool _completed;

        /// <summary>Trailers reach the response message whichever comes last: the message or the app's completion.</summary>
        public void AttachTrailers(System.Net.Http.Headers.HttpResponseHeaders target)
        {
            lock (_onCompleted)
            {
                _trailersTarget = target;
                if (_completed) CopyTrailers();
            }
        }

        private void CopyTrailers()
        {
            foreach (var t in Trailers) _trailersTarget!.TryAddWithoutValidation(t.Key, (IEnumerable<string?>)t.Value);
        }

        public int StatusCode { get; set; } = 200;
        public string? ReasonPhrase { get; set; }
        public IHeaderDictionary Headers { get; set; } = new HeaderDictionary();
        public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();
        [Obsolete("use IHttpResponseBodyFeature")]
        public Stream Body { get => _stream; set => throw new NotSupportedException(); }
        public bool HasStarted { get; private set; }
        public Stream Stream => _stream;
        public PipeWriter Writer => field ??= PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
        public CancellationToken RequestAborted { get; set; }

        public void Abort() => _aborted.Cancel();
        public void OnStarting(Func<object, Task> callback, object state) => _onStarting.Add((callback, state));
        public void OnCompleted(Func<object, Task> callback, object state) => _onCompleted.Add((callback, state));
        public void DisableBuffering() { }

        public async Task StartAsync(CancellationToken cancellationToken = default)
        {
            if (HasStarted) return;
            for (int i = _onStarting.Count - 1; i >= 0; i--) await _onStarting[i].Callback(_onStarting[i].State).ConfigureAwait(false);
            HasStarted = true;
            Headers.IsReadOnly.ToString();
            _started.TrySetResult();
        }

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            await StartAsync(cancellationToken).ConfigureAwait(false);
            using var file = File.OpenRead(path);
            file.Seek(offset, SeekOrigin.Begin);
            var buffer = new byte[64 << 10];
            long left = count ?? long.MaxValue;
            while (left > 0)
            {
                int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                await WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                left -= n;
            }
        }

        public async Task CompleteAsync()
        {
            await StartAsync().ConfigureAwait(false);
            if (Writer is { } w) await w.FlushAsync().ConfigureAwait(false);
            lock (_onCompleted)
            {
                _completed = true;
                if (_trailersTarget is not null) CopyTrailers();
            }
            await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
        }

        public void Fail(Exception ex)
        {
            if (!HasStarted)
            {
                StatusCode = 500;
                Headers.Clear();
                HasStarted = true;
                _started.TrySetResult();
                _pipe.Writer.Complete();
                return;
            }
            _pipe.Writer.Complete(ex);
        }

        public async Task FireCompletedAsync()
        {
            for (int i = _onCompleted.Count - 1; i >= 0; i--)
            {
                try { await _onCompleted[i].Callback(_onCompleted[i].State).ConfigureAwait(false); }
                catch (Exception ex) when (ex is not OutOfMemoryException) { _ = ex; }
            }
            _aborted.Dispose();
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            await StartAsync(cancellationToken).ConfigureAwait(false);
            var result = await _pipe.Writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted) throw new OperationCanceledException("the peer stopped reading the response");
        }

        private sealed class BodyStream(ResponseState owner) : Stream
        {
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override void Flush() => FlushAsync().GetAwaiter().GetResult();
            public override Task FlushAsync(CancellationToken cancellationToken) => owner.StartAsync(cancellationToken);
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => owner.WriteAsync(buffer.AsMemory(offset, count), default).AsTask().GetAwaiter().GetResult();
            public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => owner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
            public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => owner.WriteAsync(buffer, cancellationToken);
        }
    }
}
