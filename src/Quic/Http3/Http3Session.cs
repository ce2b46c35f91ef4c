using System.Buffers;
using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Http3;

/// <summary>
/// Connection-level HTTP/3 plumbing shared by client and server: opens our control stream (SETTINGS with a
/// zero-capacity QPACK table) and the QPACK encoder/decoder streams, and serves the peer's unidirectional
/// streams (control parsed; QPACK streams drained; unknown types refused with H3_STREAM_CREATION_ERROR).
/// </summary>
internal sealed class Http3Session
{
    private readonly QuicConnection _connection;
    private readonly bool _isServer;
    private readonly List<QuicStream> _ownStreams = [];
    private bool _peerControlSeen, _peerEncoderSeen, _peerDecoderSeen;

    public Http3Session(QuicConnection connection, bool isServer)
    {
        _connection = connection;
        _isServer = isServer;
    }

    /// <summary>The peer's SETTINGS once received.</summary>
    public Dictionary<ulong, ulong>? PeerSettings { get; private set; }

    /// <summary>Set when the session failed with an HTTP/3 error (the connection is being closed with it).</summary>
    public QuicException? Error { get; private set; }

    public async Task OpenLocalStreamsAsync(CancellationToken ct)
    {
        var control = await _connection.OpenOutboundStreamAsync(QuicStreamType.Unidirectional, ct).ConfigureAwait(false);
        byte[] settings = SettingsFrame.Encode(
        [
            (SettingsFrame.QpackMaxTableCapacity, 0),
            (SettingsFrame.QpackBlockedStreams, 0),
            (SettingsFrame.MaxFieldSectionSize, (ulong)Qpack.QpackDecoder.DefaultMaxFieldSectionSize),
        ]);
        await control.WriteAsync((byte[])[(byte)Http3StreamType.Control, .. settings], ct).ConfigureAwait(false);
        var encoder = await _connection.OpenOutboundStreamAsync(QuicStreamType.Unidirectional, ct).ConfigureAwait(false);
        await encoder.WriteAsync(new byte[] { (byte)Http3StreamType.QpackEncoder }, ct).ConfigureAwait(false);
        var decoder = await _connection.OpenOutboundStreamAsync(QuicStreamType.Unidirectional, ct).ConfigureAwait(false);
        await decoder.WriteAsync(new byte[] { (byte)Http3StreamType.QpackDecoder }, ct).ConfigureAwait(false);
        _ownStreams.AddRange([control, encoder, decoder]); // critical streams stay open for the connection's life
    }

    /// <summary>Serves one inbound unidirectional stream until it ends.</summary>
    public async Task HandleUnidirectionalAsync(QuicStream stream, CancellationToken ct)
    {
        byte[] buf = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            // Stream type varint.
            int have = 0;
            ulong type;
            while (true)
            {
                int n = await stream.ReadAsync(buf.AsMemory(have, 8 - have), ct).ConfigureAwait(false);
                if (n == 0) return; // closed before its type: ignore
                have += n;
                if (QuicVarint.TryRead(buf.AsSpan(0, have), out type, out int used))
                {
                    await ServeTypedAsync(stream, type, buf, used, have, ct).ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (QuicException e) when (e.ApplicationErrorCode is long code && code >= 0x100 && e.QuicError == QuicError.ConnectionAborted && Error is null)
        {
            await FailAsync(e).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private async Task ServeTypedAsync(QuicStream stream, ulong type, byte[] buf, int start, int have, CancellationToken ct)
    {
        switch (type)
        {
            case Http3StreamType.Control:
            {
                if (_peerControlSeen) throw Http3Errors.Error(Http3ErrorCode.StreamCreationError, "second control stream");
                _peerControlSeen = true;
                var reader = new Http3ControlStreamReader();
                reader.Process(buf.AsSpan(start, have - start));
                PeerSettings ??= reader.Settings;
                while (true)
                {
                    int n = await stream.ReadAsync(buf, ct).ConfigureAwait(false);
                    if (n == 0) Http3ControlStreamReader.OnClosed();
                    reader.Process(buf.AsSpan(0, n));
                    PeerSettings ??= reader.Settings;
                }
            }
            case Http3StreamType.QpackEncoder or Http3StreamType.QpackDecoder:
            {
                ref bool seen = ref type == Http3StreamType.QpackEncoder ? ref _peerEncoderSeen : ref _peerDecoderSeen;
                if (seen) throw Http3Errors.Error(Http3ErrorCode.StreamCreationError, "second QPACK stream of one type");
                seen = true;
                // With SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0 the peer's encoder may only send "Set Dynamic Table
                // Capacity 0" (0x20); its decoder stream carries nothing we need. Drain both.
                bool encoder = type == Http3StreamType.QpackEncoder;
                CheckEncoderInstructions(encoder, buf.AsSpan(start, have - start));
                while (true)
                {
                    int n = await stream.ReadAsync(buf, ct).ConfigureAwait(false);
                    if (n == 0) throw Http3Errors.Error(Http3ErrorCode.ClosedCriticalStream, "QPACK stream closed");
                    CheckEncoderInstructions(encoder, buf.AsSpan(0, n));
                }
            }
            case Http3StreamType.Push when !_isServer:
                throw Http3Errors.Error(Http3ErrorCode.IdError, "push stream without MAX_PUSH_ID");
            default:
                // Unknown or reserved stream type (or a push stream to a server): refuse to read it (RFC 9114 §6.2).
                stream.Abort(QuicAbortDirection.Read, (long)Http3ErrorCode.StreamCreationError);
                return;
        }
    }

    private static void CheckEncoderInstructions(bool encoder, ReadOnlySpan<byte> data)
    {
        if (!encoder) return;
        foreach (byte b in data)
            if (b != 0x20) throw Http3Errors.Error(Http3ErrorCode.QpackEncoderStreamError, "encoder instruction with a zero-capacity table");
    }

    /// <summary>Closes the connection with the error's HTTP/3 code.</summary>
    public async Task FailAsync(QuicException e)
    {
        Error ??= e;
        try
        {
            await _connection.CloseAsync(e.ApplicationErrorCode ?? (long)Http3ErrorCode.InternalError).ConfigureAwait(false);
        }
        catch (QuicException)
        {
            // already closed
        }
    }
}
