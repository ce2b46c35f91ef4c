using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Security;
using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Http3;

/// <summary>Settings of <see cref="Http3Client"/>.</summary>
public sealed class Http3ClientOptions
{
    /// <summary>Server host name (SNI and :authority) or address.</summary>
    public string Host { get; init; } = "localhost";

    /// <summary>Server UDP port.</summary>
    public int Port { get; init; } = 443;

    /// <summary>Accept any server certificate (tests, <c>--insecure</c>).</summary>
    public bool Insecure { get; init; }

    /// <summary>Custom certificate validation (ignored when <see cref="Insecure"/>).</summary>
    public RemoteCertificateValidationCallback? RemoteCertificateValidation { get; init; }

    /// <summary>Connection idle timeout.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Initiate a QUIC key update every this many 1-RTT packets (0: never; interop testing).</summary>
    public long KeyUpdateInterval { get; init; }

    /// <summary>Client certificate (with private key) sent when the server asks for one (null: send none).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate { get; init; }
}

/// <summary>Minimal HTTP/3 client over one QUIC connection: sequential or parallel requests, body streamed to a <see cref="Stream"/>.</summary>
public sealed class Http3Client : IAsyncDisposable
{
    private readonly QuicConnection _connection;
    private readonly Http3Session _session;
    private readonly string _authority;
    private readonly CancellationTokenSource _cts = new();

    private Http3Client(QuicConnection connection, string authority)
    {
        _connection = connection;
        _authority = authority;
        _session = new Http3Session(connection, isServer: false);
    }

    /// <summary>The underlying QUIC connection.</summary>
    public QuicConnection Connection => _connection;

    /// <summary>Connects and opens the HTTP/3 control and QPACK streams.</summary>
    public static async Task<Http3Client> ConnectAsync(Http3ClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        EndPoint remote = IPAddress.TryParse(options.Host, out var ip) ? new IPEndPoint(ip, options.Port) : new DnsEndPoint(options.Host, options.Port);
        var conn = await QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = remote,
            IdleTimeout = options.IdleTimeout,
            KeyUpdateInterval = options.KeyUpdateInterval,
            MaxInboundUnidirectionalStreams = 10,
            DefaultStreamErrorCode = (long)Http3ErrorCode.RequestCancelled,
            DefaultCloseErrorCode = (long)Http3ErrorCode.NoError,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [new SslApplicationProtocol("h3")],
                TargetHost = options.Host,
                ClientCertificates = options.ClientCertificate is null ? null : [options.ClientCertificate],
#pragma warning disable CA5359 // --insecure is an explicit user choice (interop tests against self-signed peers)
                RemoteCertificateValidationCallback = options.Insecure ? (_, _, _, _) => true : options.RemoteCertificateValidation,
#pragma warning restore CA5359
            },
        }, cancellationToken).ConfigureAwait(false);
        string authority = options.Host.Contains(':', StringComparison.Ordinal) && ip is not null ? $"[{options.Host}]:{options.Port}" : $"{options.Host}:{options.Port}";
        var client = new Http3Client(conn, authority);
        await client._session.OpenLocalStreamsAsync(cancellationToken).ConfigureAwait(false);
        _ = Task.Run(client.AcceptUniLoopAsync, CancellationToken.None);
        return client;
    }

    private async Task AcceptUniLoopAsync()
    {
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var s = await _connection.AcceptInboundStreamAsync(_cts.Token).ConfigureAwait(false);
                if (s.Type == QuicStreamType.Unidirectional) _ = Task.Run(() => _session.HandleUnidirectionalAsync(s, _cts.Token));
                else s.Abort(QuicAbortDirection.Both, (long)Http3ErrorCode.StreamCreationError); // servers do not open bidi streams
            }
        }
        catch (Exception e) when (e is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            // connection ended
        }
    }

    /// <summary>Sends a request and streams the response body into <paramref name="responseBody"/> (null: discard).</summary>
    public async Task<Http3Response> SendAsync(string method, string path, ReadOnlyMemory<byte> requestBody, Stream? responseBody, CancellationToken cancellationToken = default)
    {
        var stream = await _connection.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cancellationToken).ConfigureAwait(false);
        await using var streamScope = stream.ConfigureAwait(false);
        var fields = new List<HeaderField>
        {
            new(":method", method), new(":scheme", "https"), new(":authority", _authority), new(":path", path),
            new("user-agent", "ospbridge-h3"),
        };
        if (!requestBody.IsEmpty) fields.Add(new("content-length", requestBody.Length.ToString(CultureInfo.InvariantCulture)));
        byte[] head = HeadersFrame.Encode(fields);
        if (requestBody.IsEmpty) await stream.WriteAsync(head, completeWrites: true, cancellationToken).ConfigureAwait(false);
        else
        {
            await stream.WriteAsync(head, cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(DataFrame.EncodeHeader(requestBody.Length), cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(requestBody, completeWrites: true, cancellationToken).ConfigureAwait(false);
        }

        var reader = new Http3MessageReader();
        var msg = new Http3MessageCollector();
        long bodyLength = 0;
        byte[] buf = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(buf, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    reader.Finish();
                    break;
                }
                msg.InPlaceSource = buf; // body bytes go from the read buffer to the sink (no copy into msg.Body)
                reader.Process(buf.AsSpan(0, n), msg);
                foreach (var (offset, length) in msg.BodyRanges)
                {
                    bodyLength += length;
                    if (responseBody is not null) await responseBody.WriteAsync(buf.AsMemory(offset, length), cancellationToken).ConfigureAwait(false);
                }
                msg.BodyRanges.Clear();
            }
        }
        catch (QuicException e) when (e.QuicError == QuicError.ConnectionAborted && e.ApplicationErrorCode is >= 0x100 and < 0x300 && _session.Error is null)
        {
            await _session.FailAsync(e).ConfigureAwait(false);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
        Http3Fields.Validate(msg.Headers, request: false);
        string status = Http3Fields.Get(msg.Headers, ":status")!;
        if (status.Length != 3 || !status.All(char.IsAsciiDigit)) throw Http3Errors.Message($"invalid :status '{status}'");
        string? cl = Http3Fields.Get(msg.Headers, "content-length");
        if (cl is not null && long.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out long expect) && expect != bodyLength)
            throw Http3Errors.Message($"content-length {expect} but {bodyLength} body bytes");
        return new Http3Response
        {
            StatusCode = int.Parse(status, NumberStyles.None, CultureInfo.InvariantCulture),
            Headers = [.. msg.Headers, .. msg.Trailers],
            BodyLength = bodyLength,
        };
    }

    /// <summary>GET convenience.</summary>
    public Task<Http3Response> GetAsync(string path, Stream? responseBody, CancellationToken cancellationToken = default) =>
        SendAsync("GET", path, default, responseBody, cancellationToken);

    /// <summary>Closes the connection with H3_NO_ERROR.</summary>
    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await _connection.CloseAsync((long)Http3ErrorCode.NoError).ConfigureAwait(false);
        }
        catch (QuicException)
        {
            // already closed
        }
        await _connection.DisposeAsync().ConfigureAwait(false);
        _cts.Dispose();
    }
}
