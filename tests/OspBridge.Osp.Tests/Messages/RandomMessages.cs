using System.Collections;
using System.Reflection;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Messages;

/// <summary>
/// Builds random instances of any generated message type by reflection (seeded): every property gets a value
/// of its declared type; optional members are left out about a third of the time; lists respect "1*".
/// </summary>
internal sealed class RandomMessages(int seed)
{
    private readonly Random _random = new(seed);

    public object Create(Type type, int depth = 0)
    {
        object instance = Activator.CreateInstance(type)!;
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            bool optional = !property.GetCustomAttributes().Any(a => a.GetType().Name == "RequiredMemberAttribute");
            if (optional && (_random.Next(3) == 0 || depth > 4))
            {
                continue;
            }

            property.SetValue(instance, Value(property, property.PropertyType, depth));
        }

        return instance;
    }

    private object? Value(PropertyInfo property, Type type, int depth)
    {
        Type? nullable = Nullable.GetUnderlyingType(type);
        if (nullable is not null)
        {
            type = nullable;
        }

        if (type == typeof(ulong))
        {
            return _random.Next(3) switch { 0 => (ulong)_random.Next(24), 1 => (ulong)_random.Next(), _ => (ulong)_random.NextInt64() * 2 };
        }

        if (type == typeof(long))
        {
            return _random.NextInt64(long.MinValue, long.MaxValue);
        }

        if (type == typeof(bool))
        {
            return _random.Next(2) == 0;
        }

        if (type == typeof(double))
        {
            return _random.Next(4) == 0 ? (double)_random.Next(100) : BitConverter.Int64BitsToDouble(_random.NextInt64() & 0x7FEF_FFFF_FFFF_FFFF);
        }

        if (type == typeof(string))
        {
            return RandomText();
        }

        if (type == typeof(ReadOnlyMemory<byte>))
        {
            int length = SizeOf(property) ?? _random.Next(0, 48);
            byte[] bytes = new byte[length];
            _random.NextBytes(bytes);
            return new ReadOnlyMemory<byte>(bytes);
        }

        if (type.IsEnum)
        {
            Array values = Enum.GetValues(type);
            return _random.Next(5) == 0 ? Enum.ToObject(type, (ulong)_random.Next(5000, 6000)) : values.GetValue(_random.Next(values.Length));
        }

        if (type == typeof(BytesOrText))
        {
            return _random.Next(2) == 0 ? BytesOrText.FromText(RandomText()) : BytesOrText.FromBytes(new byte[] { 1, 2, (byte)_random.Next(256) });
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(NullOr<>))
        {
            Type inner = type.GetGenericArguments()[0];
            return _random.Next(3) == 0 ? Activator.CreateInstance(type) : Activator.CreateInstance(type, Value(property, inner, depth + 1));
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
        {
            Type element = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            int count = _random.Next(1, depth > 3 ? 2 : 4); // "1*" lists need at least one element
            for (int i = 0; i < count; i++)
            {
                list.Add(Value(property, element, depth + 1));
            }

            return list;
        }

        if (type.IsClass && type.Namespace == typeof(AgentInfo).Namespace)
        {
            return Create(type, depth + 1);
        }

        throw new NotSupportedException($"No random value for {type} ({property.DeclaringType?.Name}.{property.Name}).");
    }

    private static int? SizeOf(PropertyInfo property) =>
        property.DeclaringType == typeof(AuthSpake2Confirmation) && property.Name == nameof(AuthSpake2Confirmation.ConfirmationValue) ? 64 : null;

    private string RandomText()
    {
        string[] pieces = ["", "a", "chat", "Open Screen", "\u00fc", "\u6c34", "\ud83d\ude00", "v=0\r\n", "x-y_z"];
        return string.Concat(Enumerable.Range(0, _random.Next(0, 4)).Select(_ => pieces[_random.Next(pieces.Length)]));
    }
}
