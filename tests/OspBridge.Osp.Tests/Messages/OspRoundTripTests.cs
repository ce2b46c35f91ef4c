using OspBridge.Osp.Cbor;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Messages;

/// <summary>Every message type of the schema: random instances (fixed seed) survive encode → decode unchanged.</summary>
public sealed class OspRoundTripTests
{
    public static TheoryData<string> MessageNames()
    {
        var data = new TheoryData<string>();
        foreach (OspMessageDescriptor d in OspMessageRegistry.All)
        {
            data.Add(d.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void Random_instances_round_trip(string name)
    {
        OspMessageDescriptor descriptor = OspMessageRegistry.All.Single(d => d.Name == name);
        var random = new RandomMessages(seed: name.Length * 7919 + (int)descriptor.TypeKey);
        for (int i = 0; i < 40; i++)
        {
            var message = (IOspMessage)random.Create(descriptor.MessageType);
            byte[] frame = OspFraming.Frame(message);
            IOspMessage decoded = OspFraming.Decode(frame);
            Assert.IsType(descriptor.MessageType, decoded);
            Assert.Equal(message, decoded);
            Assert.Equal(message.GetHashCode(), decoded.GetHashCode());
            Assert.Equal(frame, OspFraming.Frame(decoded));

            // Keys in ascending order and shortest heads: our encoding is already deterministic (RFC 8949 §4.2.1).
            byte[] body = frame[Net.Wire.QuicVarint.GetEncodedLength(message.TypeKey)..];
            Assert.Equal(body, CborOutput.ToDeterministic(body, new CborLimits { RequireShortestEncoding = true }, keepFloatWidths: true));
            Assert.Equal(body.Length, CborInput.Validate(body, new CborLimits { RequireShortestEncoding = true }));
        }
    }

    [Fact]
    public void Every_generated_type_has_value_equality_that_sees_every_member()
    {
        // Changing any single member of a message must break equality (catches members dropped by Equals).
        var random = new RandomMessages(seed: 42);
        foreach (OspMessageDescriptor d in OspMessageRegistry.All)
        {
            var a = random.Create(d.MessageType);
            var b = OspFraming.Decode(OspFraming.Frame((IOspMessage)a));
            var donor = random.Create(d.MessageType);
            foreach (var property in d.MessageType.GetProperties().Where(p => p.CanWrite))
            {
                object? original = property.GetValue(b);
                property.SetValue(b, property.GetValue(donor));
                if (!OspFraming.Frame((IOspMessage)a).AsSpan().SequenceEqual(OspFraming.Frame((IOspMessage)b)))
                {
                    Assert.False(a.Equals(b), $"{d.Name}.{property.Name} is ignored by Equals");
                }

                property.SetValue(b, original);
            }

            Assert.True(a.Equals(b));
        }
    }
}
