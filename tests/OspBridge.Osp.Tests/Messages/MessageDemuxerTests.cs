using OspBridge.Osp.Cbor;
using OspBridge.Osp.Messages;
using OspBridge.Testing;

namespace OspBridge.Osp.Tests.Messages;

public sealed class MessageDemuxerTests
{
    private static List<IOspMessage> SampleStream()
    {
        var random = new RandomMessages(seed: 2026);
        var messages = new List<IOspMessage>();
        foreach (OspMessageDescriptor d in OspMessageRegistry.All)
        {
            messages.Add((IOspMessage)random.Create(d.MessageType));
        }

        return messages;
    }

    private static (MessageDemuxer Demuxer, List<IOspMessage> Received) NewDemuxer(MessageDemuxerOptions? options = null)
    {
        var demuxer = new MessageDemuxer(options);
        var received = new List<IOspMessage>();
        demuxer.RegisterAll(received.Add);
        return (demuxer, received);
    }

    [Fact]
    public void Every_message_split_at_every_byte_boundary_decodes_the_same_as_whole()
    {
        foreach (IOspMessage message in SampleStream())
        {
            byte[] frame = OspFraming.Frame(message);
            for (int split = 0; split <= frame.Length; split++)
            {
                (MessageDemuxer demuxer, List<IOspMessage> received) = NewDemuxer();
                using MessageStream stream = demuxer.CreateStream();
                DemuxResult first = stream.Push(frame.AsMemory(0, split));
                DemuxResult second = stream.Push(frame.AsMemory(split));
                Assert.True(first.IsOk && second.IsOk, $"{message.Name} split at {split}: {first} / {second}");
                Assert.Equal(1, first.MessagesDispatched + second.MessagesDispatched);
                Assert.Equal(split == frame.Length ? 1 : 0, first.MessagesDispatched);
                Assert.True(stream.Complete().IsOk);
                Assert.Equal(message, Assert.Single(received));
            }
        }
    }

    [Fact]
    public void A_stream_of_all_messages_fed_in_random_and_single_byte_chunks_decodes_in_order()
    {
        List<IOspMessage> messages = SampleStream();
        byte[] stream = messages.SelectMany(OspFraming.Frame).ToArray();
        var random = new Random(5);
        foreach (bool singleBytes in new[] { true, false })
        {
            (MessageDemuxer demuxer, List<IOspMessage> received) = NewDemuxer();
            using MessageStream s = demuxer.CreateStream();
            int pos = 0;
            int dispatched = 0;
            while (pos < stream.Length)
            {
                int take = singleBytes ? 1 : Math.Min(stream.Length - pos, random.Next(1, 300));
                DemuxResult result = s.Push(stream.AsMemory(pos, take));
                Assert.True(result.IsOk, result.ToString());
                dispatched += result.MessagesDispatched;
                pos += take;
            }

            Assert.Equal(messages.Count, dispatched);
            Assert.Equal(messages, received);
            Assert.Equal(messages.Count, s.MessagesDispatched);
        }
    }

    [Fact]
    public void Unknown_type_key_is_reported_distinctly_before_the_body_arrives()
    {
        (MessageDemuxer demuxer, List<IOspMessage> received) = NewDemuxer();
        using MessageStream stream = demuxer.CreateStream();
        byte[] known = OspFraming.Frame(new AgentInfoRequest { RequestId = 1 });
        // Key 99001 (go-lp2p's non-standard need-psk) as a 4-byte varint, then only the first body byte.
        byte[] unknown = [.. known, 0x80, 0x01, 0x82, 0xb9, 0xa1];
        DemuxResult result = stream.Push(unknown);
        Assert.Equal(DemuxStatus.UnknownTypeKey, result.Status);
        Assert.Equal(99001UL, result.TypeKey);
        Assert.Equal(1, result.MessagesDispatched);
        Assert.Single(received);
        Assert.Equal(404, OspFraming.UnknownTypeKeyErrorCode);
        // The stream is finished: later bytes get the same verdict.
        Assert.Equal(DemuxStatus.UnknownTypeKey, stream.Push(known).Status);
        Assert.Single(received);
    }

    [Fact]
    public void Oversized_messages_are_refused_without_buffering_them()
    {
        var options = new MessageDemuxerOptions { MaxMessageSize = 100 };
        (MessageDemuxer demuxer, List<IOspMessage> received) = NewDemuxer(options);

        // Exactly at the limit: fine, even byte by byte.
        var atLimit = new DataFrame { EncodingId = 0, Payload = new byte[100 - 7] }; // a2 00 00 04 58 5d + 93 = 99... computed below
        byte[] frame = OspFraming.Frame(atLimit);
        int bodyLength = frame.Length - 1;
        atLimit.Payload = new byte[atLimit.Payload.Length + (100 - bodyLength)];
        frame = OspFraming.Frame(atLimit);
        Assert.Equal(101, frame.Length);
        using (MessageStream stream = demuxer.CreateStream())
        {
            foreach (byte b in frame)
            {
                Assert.True(stream.Push(new[] { b }).IsOk);
            }
        }

        Assert.Single(received);

        // One byte over: refused, in one piece or in chunks.
        atLimit.Payload = new byte[atLimit.Payload.Length + 1];
        frame = OspFraming.Frame(atLimit);
        using (MessageStream stream = demuxer.CreateStream())
        {
            Assert.Equal(DemuxStatus.MessageTooLarge, stream.Push(frame).Status);
        }

        using (MessageStream stream = demuxer.CreateStream())
        {
            DemuxResult last = default;
            for (int i = 0; i < frame.Length && (last = stream.Push(frame.AsMemory(i, 1))).IsOk; i++)
            {
            }

            Assert.Equal(DemuxStatus.MessageTooLarge, last.Status);
        }

        // A head announcing a 4 GiB byte string is refused at once, without waiting or buffering.
        byte[] hugeHead = Convert.FromHexString("18a200000" + "45affffffff");
        (DemuxResult Result, long Bytes) RefuseHugeHead()
        {
            using MessageStream stream = demuxer.CreateStream();
            DemuxResult r = default;
            long bytes = Allocations.Of(() => r = stream.Push(hugeHead));
            return (r, bytes);
        }

        var refused = Allocations.LeastOf(3, RefuseHugeHead, x => x.Bytes, enough: 8191);
        Assert.Equal(DemuxStatus.Malformed, refused.Result.Status);
        Assert.Equal(CborError.StringLengthLimitExceeded, refused.Result.Error);
        Assert.True(refused.Bytes < 8192, $"{refused.Bytes} bytes allocated refusing a 4 GiB head (least of up to 3 windows)");

        Assert.Single(received);
    }

    [Fact]
    public void Malformed_and_truncated_streams_are_reported()
    {
        (MessageDemuxer demuxer, _) = NewDemuxer();
        using (MessageStream stream = demuxer.CreateStream())
        {
            DemuxResult r = stream.Push(Convert.FromHexString("0aa1001c"));
            Assert.Equal(DemuxStatus.Malformed, r.Status);
            Assert.Equal(CborError.Malformed, r.Error);
        }

        using (MessageStream stream = demuxer.CreateStream())
        {
            DemuxResult r = stream.Push(Convert.FromHexString("0aa10061" + "61")); // well-formed, wrong type for request-id
            Assert.Equal(DemuxStatus.Malformed, r.Status);
            Assert.Equal(CborError.UnexpectedType, r.Error);
            Assert.Equal(10UL, r.TypeKey);
        }

        using (MessageStream stream = demuxer.CreateStream())
        {
            Assert.True(stream.Push(Convert.FromHexString("0aa100")).IsOk);
            Assert.True(stream.HasPartialMessage);
            Assert.Equal(DemuxStatus.Truncated, stream.Complete().Status);
        }

        using (MessageStream stream = demuxer.CreateStream())
        {
            Assert.True(stream.Push(Convert.FromHexString("43")).IsOk); // half a varint
            Assert.Equal(DemuxStatus.Truncated, stream.Complete().Status);
        }
    }

    [Fact]
    public void Raw_and_typed_handlers_route_by_type_key()
    {
        var demuxer = new MessageDemuxer();
        var typed = new List<AuthStatus>();
        var raw = new List<string>();
        demuxer.Register<AuthStatus>(typed.Add);
        demuxer.RegisterRaw(9000, (key, body) => raw.Add($"{key}:{Convert.ToHexStringLower(body)}"));
        Assert.Throws<InvalidOperationException>(() => demuxer.Register<AuthStatus>(typed.Add));
        Assert.True(demuxer.IsRegistered(OspTypeKeys.AuthStatus));

        using MessageStream stream = demuxer.CreateStream();
        byte[] bytes = [.. OspFraming.Frame(new AuthStatus { Result = AuthStatusResult.ProofInvalid }), 0x63, 0x28, 0x82, 0x01, 0x02];
        DemuxResult result = stream.Push(bytes);
        Assert.True(result.IsOk);
        Assert.Equal(2, result.MessagesDispatched);
        Assert.Equal(AuthStatusResult.ProofInvalid, Assert.Single(typed).Result);
        Assert.Equal("9000:820102", Assert.Single(raw));
    }

    [Fact]
    public void A_throwing_handler_propagates_and_ends_the_stream()
    {
        var demuxer = new MessageDemuxer();
        demuxer.Register<AgentInfoRequest>(_ => throw new InvalidOperationException("handler bug"));
        using MessageStream stream = demuxer.CreateStream();
        byte[] frame = OspFraming.Frame(new AgentInfoRequest { RequestId = 1 });
        Assert.Throws<InvalidOperationException>(() => stream.Push(frame));
        Assert.Equal(DemuxStatus.HandlerFailed, stream.Push(frame).Status);
        Assert.Equal(DemuxStatus.HandlerFailed, stream.Complete().Status);
    }

    [Fact]
    public void Whole_messages_are_not_buffered_and_split_ones_cost_linear_time()
    {
        var demuxer = new MessageDemuxer();
        int payloads = 0;
        demuxer.RegisterRaw(OspTypeKeys.DataFrame, (_, body) => payloads += body.Length);
        byte[] frame = OspFraming.Frame(new DataFrame { EncodingId = 0, Payload = new byte[60_000] });

        (int Dispatched, bool Partial, long Bytes) PushWhole()
        {
            payloads = 0; // a repeated window counts once
            using MessageStream stream = demuxer.CreateStream();
            int dispatched = 0;
            long bytes = Allocations.Of(() => dispatched = stream.Push(frame).MessagesDispatched);
            return (dispatched, stream.HasPartialMessage, bytes);
        }

        var whole = Allocations.LeastOf(3, PushWhole, x => x.Bytes, enough: 4095);
        Assert.Equal(1, whole.Dispatched);
        Assert.False(whole.Partial);
        Assert.True(whole.Bytes < 4096, $"whole message was copied: {whole.Bytes} bytes allocated (least of up to 3 windows)");

        // 60 000 single-byte pushes: the resumable scanner keeps this linear (a rescan per byte would be ~1.8e9 steps).
        using (MessageStream stream = demuxer.CreateStream())
        {
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            int dispatched = 0;
            for (int i = 0; i < frame.Length; i++)
            {
                dispatched += stream.Push(frame.AsMemory(i, 1)).MessagesDispatched;
            }

            Assert.Equal(1, dispatched);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
        }

        Assert.Equal(2 * (frame.Length - 1), payloads); // raw handlers see the CBOR body (key 24 is one byte)
    }
}
