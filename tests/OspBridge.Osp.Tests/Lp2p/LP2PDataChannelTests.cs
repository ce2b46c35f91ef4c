using System.Net;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Channels;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Lp2p;

namespace OspBridge.Osp.Tests.Lp2p;

public sealed class LP2PDataChannelTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    internal static OspAgentOptions Agent(string name, bool requireAuthentication = false, int sendBufferLimit = 1 << 20, TimeSpan? grace = null) => new()
    {
        Identity = AgentIdentity.CreateEphemeral(name),
        DisplayName = name + " display",
        RequireAuthentication = requireAuthentication,
        DataChannelSendBufferLimit = sendBufferLimit,
        AuthenticationGracePeriod = grace ?? TimeSpan.FromSeconds(5),
    };

    /// <summary>A loopback pair: (listener, client side, server side), both as LP2P connections.</summary>
    internal static async Task<(OspAgentListener Listener, LP2PConnection Client, LP2PConnection Server)> PairAsync(OspAgentOptions? server = null, OspAgentOptions? client = null)
    {
        server ??= Agent("Device");
        client ??= Agent("Controller");
        var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client);
        var s = await acceptTask.WaitAsync(Timeout);
        return (listener, new LP2PConnection(c, null, null), new LP2PConnection(s, null, null));
    }

    private static async Task DisposeAsync((OspAgentListener Listener, LP2PConnection Client, LP2PConnection Server) pair)
    {
        await pair.Client.DisposeAsync();
        await pair.Server.DisposeAsync();
        await pair.Listener.DisposeAsync();
    }

    [Fact]
    public async Task A_thousand_text_messages_arrive_in_order_both_ways()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var channel = await pair.Client.CreateDataChannelAsync("chat", new LP2PDataChannelInit { Protocol = "text/v1" }, cts.Token);
            await using var peer = (await accept)!;
            Assert.Equal("chat", peer.Label);
            Assert.Equal("text/v1", peer.Protocol);
            Assert.Equal(MessageChannelState.Open, channel.State);
            Assert.Equal(MessageChannelState.Open, peer.State);

            var echo = Task.Run(async () =>
            {
                while (await peer.ReceiveAsync(cts.Token) is { } m)
                {
                    Assert.True(m.IsText);
                    await peer.SendAsync(m.Data, isText: true, cts.Token);
                }
            });
            var sending = Task.Run(async () =>
            {
                for (int i = 0; i < 1000; i++) await channel.SendAsync("message " + i, cts.Token);
            });
            for (int i = 0; i < 1000; i++)
            {
                var m = await channel.ReceiveAsync(cts.Token);
                Assert.NotNull(m);
                Assert.True(m.Value.IsText);
                Assert.Equal("message " + i, LP2PDataChannel.GetText(m.Value));
            }

            await sending;
            await channel.CloseAsync(cts.Token);
            await echo.WaitAsync(cts.Token);
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task Ten_megabytes_of_binary_arrive_byte_exact()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            byte[] data = new byte[10 << 20];
            new Random(42).NextBytes(data);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var channel = await pair.Client.CreateDataChannelAsync("file", null, cts.Token);
            await using var peer = (await accept)!;
            var receive = Task.Run(async () =>
            {
                using var ms = new MemoryStream();
                while (await peer.ReceiveAsync(cts.Token) is { } m)
                {
                    Assert.False(m.IsText);
                    ms.Write(m.Data.Span);
                }

                return ms.ToArray();
            });
            const int chunk = 64 * 1024;
            for (int off = 0; off < data.Length; off += chunk)
            {
                await channel.SendAsync(data.AsMemory(off, Math.Min(chunk, data.Length - off)), isText: false, cts.Token);
                Assert.True(channel.BufferedAmount <= (1 << 20) + chunk + 64);
            }

            await channel.CloseAsync(cts.Token); // FIN after the queue is flushed: the peer reads everything, then null
            byte[] got = await receive.WaitAsync(cts.Token);
            Assert.Equal(data.Length, got.Length);
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(got));
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    /// <summary>
    /// The receive path reads a usual data-frame's payload straight into its own array and hands everything else to the
    /// demuxer: 400 messages of sizes around every boundary (16 KiB read buffer, 64-byte header probe after a large
    /// payload, CBOR length widths), sent with <see cref="LP2PDataChannel.SendAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/>,
    /// with the no-copy <see cref="LP2PDataChannel.SendPooledAsync"/>, or as raw frames of unusual shapes (payload key
    /// first, extra keys after the payload, sync-time), interleaved, arrive byte-exact and in order.
    /// </summary>
    [Fact]
    public async Task Messages_of_every_shape_and_size_arrive_byte_exact_through_the_fast_and_general_receive_paths()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var channel = await pair.Client.CreateDataChannelAsync("mixed", null, cts.Token);
            await using var peer = (await accept)!;
            int[] sizes = [0, 1, 23, 24, 54, 55, 255, 256, 1000, 16383, 16384, 16385, 65535, 65536, 70_000, 200_000, 255 << 10];
            var rnd = new Random(1107);
            var expected = new List<(byte[] Data, bool IsText)>();
            for (int i = 0; i < 400; i++)
            {
                var data = new byte[sizes[rnd.Next(sizes.Length)]];
                rnd.NextBytes(data);
                expected.Add((data, rnd.Next(5) == 0));
            }

            var receive = Task.Run(async () =>
            {
                var got = new List<(byte[] Data, bool IsText)>();
                while (await peer.ReceiveAsync(cts.Token) is { } m)
                {
                    got.Add((m.Data.ToArray(), m.IsText));
                    peer.Release(m);
                }

                return got;
            });
            var modes = new Random(1108);
            foreach (var (data, isText) in expected)
            {
                switch (modes.Next(3))
                {
                    case 0:
                        await channel.SendAsync(data, isText, cts.Token);
                        break;
                    case 1:
                        byte[] pooled = System.Buffers.ArrayPool<byte>.Shared.Rent(channel.SendHeaderRoom + data.Length);
                        data.CopyTo(pooled, channel.SendHeaderRoom);
                        await channel.SendPooledAsync(pooled, channel.SendHeaderRoom, data.Length, isText, cts.Token);
                        break;
                    default:
                        var frame = new OspBridge.Osp.Messages.DataFrame
                        {
                            EncodingId = isText ? 1ul : 2ul,
                            SequenceNumber = data.Length % 2 == 0 ? 7ul : null,
                            SyncTime = data.Length % 3 == 0 ? new OspBridge.Osp.Messages.MediaSyncTime { Value = 1, Scale = 1000 } : null,
                            Payload = data,
                        };
                        byte[] raw = OspBridge.Osp.Messages.OspFraming.Frame(frame);
                        if (frame.SequenceNumber is null && frame.SyncTime is null)
                        {
                            // Payload key first: {4: payload, 0: encoding-id}.
                            int header = LP2PDataFrameCodec.HeaderLength(data.Length);
                            raw = [.. raw[..2], .. raw[4..], .. raw[2..4]];
                            Assert.Equal(header + data.Length, raw.Length);
                            Assert.Equal(0x04, raw[2]);
                        }

                        Assert.True(channel.TryQueueRawForTests(raw));
                        break;
                }
            }

            await channel.CloseAsync(cts.Token);
            var received = await receive.WaitAsync(cts.Token);
            Assert.Null(peer.Error);
            Assert.Equal(expected.Count, received.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                Assert.True(expected[i].IsText == received[i].IsText, $"message {i}: text flag");
                Assert.True(expected[i].Data.AsSpan().SequenceEqual(received[i].Data), $"message {i} ({expected[i].Data.Length} bytes) differs");
            }
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task A_stream_that_ends_inside_a_data_frame_fails_the_channel_with_a_protocol_error()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var channel = await pair.Client.CreateDataChannelAsync("cut", null, cts.Token);
            await using var peer = (await accept)!;
            await channel.SendAsync(new byte[100], isText: false, cts.Token);
            // A header announcing 50 000 payload bytes, 10 000 of them, then FIN.
            var frame = new byte[LP2PDataFrameCodec.EncodedLength(50_000)];
            LP2PDataFrameCodec.Encode(frame, 2, new byte[50_000]);
            Assert.True(channel.TryQueueRawForTests(frame[..(LP2PDataFrameCodec.HeaderLength(50_000) + 10_000)]));
            _ = channel.CloseAsync(cts.Token).AsTask();
            var first = await peer.ReceiveAsync(cts.Token);
            Assert.Equal(100, first!.Value.Data.Length);
            await peer.Completion.WaitAsync(cts.Token);
            Assert.Equal(OspError.ProtocolError, peer.Error?.Error);
            Assert.Contains("inside a data-frame", peer.Error!.Message, StringComparison.Ordinal);
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task SendPooledAsync_refuses_a_buffer_without_header_room_and_a_message_over_the_limit()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var channel = await pair.Client.CreateDataChannelAsync("room", null, cts.Token);
            await using var peer = (await accept)!;
            Assert.Equal(10, channel.SendHeaderRoom);
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await channel.SendPooledAsync(new byte[100], 4, 50, false, cts.Token));
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await channel.SendPooledAsync(new byte[100], 10, 91, false, cts.Token));
            var big = new byte[channel.MaxMessageSize + 20];
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await channel.SendPooledAsync(big, 10, (int)channel.MaxMessageSize + 1, false, cts.Token));
            // A short message needs less room (its header is 6 bytes): 6 are enough.
            byte[] small = System.Buffers.ArrayPool<byte>.Shared.Rent(16);
            "hi"u8.CopyTo(small.AsSpan(6));
            await channel.SendPooledAsync(small, 6, 2, isText: true, cts.Token);
            var m = await peer.ReceiveAsync(cts.Token);
            Assert.Equal("hi", LP2PDataChannel.GetText(m!.Value));
            Assert.True(m.Value.IsText);
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task Fifty_channels_open_at_once_and_each_echoes_its_own_label()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var echoes = new List<Task>();
            var serverSide = Task.Run(async () =>
            {
                for (int i = 0; i < 50; i++)
                {
                    var peer = (await pair.Server.AcceptDataChannelAsync(cts.Token))!;
                    echoes.Add(Task.Run(async () =>
                    {
                        var m = await peer.ReceiveAsync(cts.Token);
                        await peer.SendAsync(peer.Label + ":" + LP2PDataChannel.GetText(m!.Value), cts.Token);
                    }));
                }
            });
            var channels = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => pair.Client.CreateDataChannelAsync("ch" + i, null, cts.Token)));
            Assert.Equal(50, channels.Select(c => c.StreamId).Distinct().Count());
            await Task.WhenAll(channels.Select(c => c.SendAsync("hello", cts.Token).AsTask()));
            foreach (var c in channels)
            {
                var reply = await c.ReceiveAsync(cts.Token);
                Assert.Equal(c.Label + ":hello", LP2PDataChannel.GetText(reply!.Value));
            }

            await serverSide;
            await Task.WhenAll(echoes);
            await Task.WhenAll(channels.Select(c => c.CloseAsync(cts.Token).AsTask()));
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_close_from_either_side_closes_both_cleanly_with_events_and_keeps_the_connection(bool openerCloses)
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            var channel = await pair.Client.CreateDataChannelAsync("bye", null, cts.Token);
            var peer = (await accept)!;
            var events = new System.Collections.Concurrent.ConcurrentQueue<string>();
            channel.OnClosing += () => events.Enqueue("opener closing");
            channel.OnClose += () => events.Enqueue("opener close");
            channel.OnError += e => events.Enqueue("opener error " + e.Message);
            peer.OnClosing += () => events.Enqueue("peer closing");
            peer.OnClose += () => events.Enqueue("peer close");
            peer.OnError += e => events.Enqueue("peer error " + e.Message);

            await channel.SendAsync("last words", cts.Token);
            var (closer, other) = openerCloses ? (channel, peer) : (peer, channel);
            await closer.CloseAsync(cts.Token);
            if (!openerCloses)
            {
                Assert.Equal("last words", LP2PDataChannel.GetText((await peer.ReceiveAsync(cts.Token))!.Value));
            }

            await other.Completion.WaitAsync(cts.Token);
            Assert.Equal(MessageChannelState.Closed, channel.State);
            Assert.Equal(MessageChannelState.Closed, peer.State);
            Assert.Null(channel.Error);
            Assert.Null(peer.Error);
            if (openerCloses)
            {
                Assert.Equal("last words", LP2PDataChannel.GetText((await peer.ReceiveAsync(cts.Token))!.Value));
            }

            Assert.Null(await peer.ReceiveAsync(cts.Token));
            Assert.Null(await channel.ReceiveAsync(cts.Token));
            await Assert.ThrowsAsync<OspException>(async () => await channel.SendAsync("too late", cts.Token));

            for (int i = 0; i < 100 && events.Count < 4; i++) await Task.Yield(); // events are raised on pool threads
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (events.Count < 4 && DateTime.UtcNow < deadline) await Task.Delay(10);
            Assert.Equal(new[] { "opener close", "opener closing", "peer close", "peer closing" }, events.Order(StringComparer.Ordinal));

            // The connection is still usable: another channel opens.
            var again = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var second = await pair.Client.CreateDataChannelAsync("again", null, cts.Token);
            Assert.Equal("again", (await again)!.Label);
            Assert.False(pair.Client.Closed.IsCompleted);
            await channel.DisposeAsync();
            await peer.DisposeAsync();
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task A_receiver_that_does_not_read_holds_the_sender_back_and_BufferedAmount_stays_bounded()
    {
        const int limit = 256 * 1024;
        var pair = await PairAsync(client: Agent("Sender", sendBufferLimit: limit));
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            await using var channel = await pair.Client.CreateDataChannelAsync("bulk", null, cts.Token);
            await using var peer = (await accept)!;
            byte[] chunk = new byte[32 * 1024];
            int sent = 0;
            long maxBuffered = 0;
            Task blocked = Task.CompletedTask;
            for (; sent < 2000; sent++)
            {
                chunk[0] = (byte)sent;
                var send = channel.SendAsync(chunk, isText: false, cts.Token).AsTask();
                maxBuffered = Math.Max(maxBuffered, channel.BufferedAmount);
                if (!await Task.WhenAny(send, Task.Delay(1000, cts.Token)).ContinueWith(t => t.Result == send))
                {
                    blocked = send;
                    break;
                }
            }

            // 2000 × 32 KiB = 62.5 MiB never fit: QUIC flow control + the receive queue + the send buffer stopped the sender.
            Assert.True(sent < 2000, "the sender was never held back");
            Assert.True(maxBuffered <= limit + chunk.Length + 64, $"BufferedAmount reached {maxBuffered}");
            Assert.True(channel.BufferedAmount <= limit + chunk.Length + 64);

            // Reading drains everything, in order.
            for (int i = 0; i <= sent; i++)
            {
                var m = await peer.ReceiveAsync(cts.Token);
                Assert.Equal((byte)i, m!.Value.Data.Span[0]);
            }

            await blocked.WaitAsync(cts.Token);
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task With_RequireAuthentication_a_data_channel_is_refused_before_authentication()
    {
        var server = Agent("Gated", requireAuthentication: true, grace: TimeSpan.FromMilliseconds(300));
        var pair = await PairAsync(server: server);
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            // Our own side refuses at once when it is not authenticated.
            var local = await Assert.ThrowsAsync<OspException>(() => pair.Server.CreateDataChannelAsync("out", null, cts.Token));
            Assert.Equal(OspError.Refused, local.Error);

            // The peer's open request is held for the grace period, then the connection is closed with 401.
            var ex = await Assert.ThrowsAsync<OspException>(() => pair.Client.CreateDataChannelAsync("sneaky", null, cts.Token));
            Assert.Equal(OspError.Refused, ex.Error);
            Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await pair.Server.Closed.WaitAsync(cts.Token));
            Assert.Null(await pair.Server.AcceptDataChannelAsync(cts.Token)); // never delivered
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task An_open_request_that_overtakes_authentication_is_accepted_once_the_connection_is_authenticated()
    {
        var server = Agent("Gated", requireAuthentication: true, grace: TimeSpan.FromSeconds(20));
        var pair = await PairAsync(server: server);
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var open = pair.Client.CreateDataChannelAsync("early", null, cts.Token);
            await Task.Delay(200, cts.Token);
            Assert.False(open.IsCompleted); // held, not answered
            pair.Server.Connection.MarkAuthenticated();
            await using var channel = await open;
            await using var peer = (await pair.Server.AcceptDataChannelAsync(cts.Token))!;
            await channel.SendAsync("after auth", cts.Token);
            Assert.Equal("after auth", LP2PDataChannel.GetText((await peer.ReceiveAsync(cts.Token))!.Value));
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task Incoming_channels_arrive_through_the_event_when_it_is_subscribed()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var got = new TaskCompletionSource<LP2PDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
            pair.Server.OnDataChannel += c => got.TrySetResult(c);
            await using var channel = await pair.Client.CreateDataChannelAsync("evented", null, cts.Token);
            await using var peer = await got.Task.WaitAsync(cts.Token);
            Assert.Equal("evented", peer.Label);
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }

    [Fact]
    public async Task Closing_the_connection_fails_open_channels_with_an_error()
    {
        var pair = await PairAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var accept = pair.Server.AcceptDataChannelAsync(cts.Token);
            var channel = await pair.Client.CreateDataChannelAsync("doomed", null, cts.Token);
            var peer = (await accept)!;
            var error = new TaskCompletionSource<OspException>(TaskCreationOptions.RunContinuationsAsynchronously);
            peer.OnError += e => error.TrySetResult(e);
            await pair.Client.Connection.CloseAsync(OspConnection.NoErrorCode, cts.Token);
            await channel.Completion.WaitAsync(cts.Token);
            await peer.Completion.WaitAsync(cts.Token);
            Assert.Equal(MessageChannelState.Closed, peer.State);
            Assert.NotNull(peer.Error);
            Assert.Equal(OspError.Closed, (await error.Task.WaitAsync(cts.Token)).Error);
            Assert.Null(await peer.ReceiveAsync(cts.Token));
        }
        finally
        {
            await DisposeAsync(pair);
        }
    }
}
